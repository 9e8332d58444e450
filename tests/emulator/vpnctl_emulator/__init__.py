"""vpnctl's local AWS: moto 5.2.5 plus Client VPN, stricter validations, lazy state machines.
The test-only settings, faults and call counts live in `control`."""
