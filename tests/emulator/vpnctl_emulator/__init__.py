"""vpnctl's local AWS: moto 5.2.5 plus Client VPN, stricter validations, lazy state machines."""

CONFIG = {"delay_seconds": 0.0, "startup_delay_seconds": 0.0}


def delay() -> float:
    return float(CONFIG["delay_seconds"])
