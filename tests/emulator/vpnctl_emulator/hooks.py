"""Fail-loud monkeypatching helpers: every moto internal we touch is asserted first."""
import sys


class HookMissing(RuntimeError):
    pass


def require(obj, name):
    if not hasattr(obj, name):
        owner = getattr(obj, "__name__", repr(obj))
        raise HookMissing(
            f"vpnctl emulator: moto hook {owner}.{name} is missing; "
            "the emulator requires moto[server]==5.2.5 (see tests/emulator/requirements.txt)"
        )
    return getattr(obj, name)


def wrap(obj, name, make_wrapper):
    original = require(obj, name)
    setattr(obj, name, make_wrapper(original))
    return original


def check_version():
    import moto

    if getattr(moto, "__version__", None) != "5.2.5":
        raise HookMissing(
            f"vpnctl emulator: expected moto 5.2.5, found {getattr(moto, '__version__', '?')}"
        )


def fail(exc: Exception) -> None:
    print(f"FATAL: {exc}", file=sys.stderr, flush=True)
    sys.exit(3)
