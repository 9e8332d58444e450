"""What a test can set or observe through /_emulator/*: the configuration (how long each kind of
transition lasts, which of AWS's stricter behaviours are on, whether schedules run by themselves),
injected faults, and the number of API calls served.

Everything here sits behind one lock (the server is threaded). The models only read it, through
`delay(kind)`/`elapsed()`, `hidden(born)`, `quotas()`, `mutation_limit()` and
`scheduler_realtime()`; the dispatch hook (`install`) is the one place that counts calls and
answers injected faults.
"""
import math
import re
import threading
import time

from .hooks import require

# Each transitional state the emulator models, by the name a test gives its delay.
KINDS = (
    "association",
    "disassociation",
    "authorization",
    "revocation",
    "route_creation",
    "route_deletion",
    "endpoint_deletion",
    "nat_creation",
    "nat_deletion",
    "connection_termination",
)

# AWS's HTTP status for the server-side codes of the EC2 API reference ("Error codes for the
# Amazon EC2 API", server error codes). Any other injected code gets the status the service's
# API model gives it, else 400 (a client error).
SERVER_STATUS = {
    "RequestLimitExceeded": 503,
    "ServiceUnavailable": 503,
    "Unavailable": 503,
    "InternalError": 500,
    "InternalFailure": 500,
    "ServerInternal": 500,
}

FAULT_MESSAGES = {
    "RequestLimitExceeded": "Request limit exceeded.",
    "ServiceUnavailable": "The request has failed due to a temporary failure of the server.",
    "Unavailable": "The server is overloaded and can't handle the request.",
    "InternalError": "An internal error has occurred.",
    "InternalFailure": "The request processing has failed because of an unknown error, exception or failure.",
    "ServerInternal": "An internal error has occurred.",
}

# NatGateway.FailureCode and the FailureMessage AWS gives with it (API reference, NatGateway).
NAT_FAILURES = {
    "InsufficientFreeAddressesInSubnet": "Subnet has insufficient free addresses to create this NAT gateway",
    "Gateway.NotAttached": "Network {vpc} has no Internet gateway attached",
    "InvalidAllocationID.NotFound": "Elastic IP address {allocation} could not be associated with this NAT gateway",
    "Resource.AlreadyAssociated": "Elastic IP address {allocation} is already associated",
    "InternalError": "Network interface {eni}, created and used internally by this NAT gateway is in an invalid state. Please try again.",
    "InvalidSubnetID.NotFound": "The specified subnet {subnet} does not exist or could not be found.",
}
# The actions whose resource can be made to fail later, the state it then reaches, its codes.
ASYNC_FAULTS = {
    "CreateNatGateway": {"state": "failed", "codes": NAT_FAILURES, "default": "InsufficientFreeAddressesInSubnet"},
}

LOCK = threading.Lock()
_STARTUP = {"delay_seconds": 0.0, "scheduler_realtime": True}
CONFIG: dict = {}
FAULTS: list = []  # pending faults, oldest first: {"action", "code", "count"[, "async_state"]}
CALLS: dict = {}  # action name -> calls served since the last reset
# The same calls as IAM names them ("ec2:DescribeVpcs"): what a policy must allow. IAM's
# service prefix is moto's service name except for Step Functions ("states").
ACTIONS: dict = {}
IAM_PREFIX = {"stepfunctions": "states"}


def _defaults() -> dict:
    return {
        "delay_seconds": _STARTUP["delay_seconds"],
        "delays": {},
        "concurrent_mutation_limit": 0,
        "consistency_seconds": 0.0,
        "quotas": False,
        "clock_offset_seconds": 0.0,
        "scheduler_realtime": _STARTUP["scheduler_realtime"],
    }


def set_startup_delay(seconds: float) -> None:
    _STARTUP["delay_seconds"] = seconds
    reset()


def set_startup_realtime(on: bool) -> None:
    _STARTUP["scheduler_realtime"] = on
    reset()


def flag(name, value) -> bool:
    """A start-up switch from the environment: 1/true/yes/on or 0/false/no/off."""
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be 1 or 0 (true or false)")


def reset() -> None:
    """Start-up configuration, no faults, no calls counted."""
    with LOCK:
        CONFIG.clear()
        CONFIG.update(_defaults())
        FAULTS.clear()
        CALLS.clear()
        ACTIONS.clear()


reset()


# ---------------------------------------------------------------- configuration
def config() -> dict:
    with LOCK:
        return dict(CONFIG, delays=dict(CONFIG["delays"]))


def seconds(name, value) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a non-negative number of seconds")
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a non-negative number of seconds") from None
    if seconds < 0 or not math.isfinite(seconds):
        raise ValueError(f"{name} must be a non-negative number of seconds")
    return seconds


def _count(name, value, minimum) -> int:
    ok = isinstance(value, int) and not isinstance(value, bool)
    ok = ok or (isinstance(value, float) and value.is_integer())
    if not ok or value < minimum:
        raise ValueError(f"{name} must be an integer of at least {minimum}")
    return int(value)


def update_config(body) -> dict:
    """Validate every given setting, then apply them all (or none); returns the new config."""
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    unknown = set(body) - set(_defaults())
    if unknown:
        raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    new = {}
    if "delay_seconds" in body:
        new["delay_seconds"] = seconds("delay_seconds", body["delay_seconds"])
    if "delays" in body:
        delays = body["delays"]
        if not isinstance(delays, dict):
            raise ValueError("delays must be an object of kind: seconds")
        bad = set(delays) - set(KINDS)
        if bad:
            raise ValueError(f"unknown delay kind(s) {', '.join(sorted(bad))}; kinds: {', '.join(KINDS)}")
        new["delays"] = {k: seconds(f"delays.{k}", v) for k, v in delays.items()}
    if "concurrent_mutation_limit" in body:
        new["concurrent_mutation_limit"] = _count("concurrent_mutation_limit", body["concurrent_mutation_limit"], 0)
    if "consistency_seconds" in body:
        new["consistency_seconds"] = seconds("consistency_seconds", body["consistency_seconds"])
    if "clock_offset_seconds" in body:
        offset = body["clock_offset_seconds"]
        if isinstance(offset, bool) or not isinstance(offset, (int, float)) or abs(offset) > 86400 * 366:
            raise ValueError("clock_offset_seconds must be a number of seconds (within a year)")
        new["clock_offset_seconds"] = float(offset)
    for name in ("quotas", "scheduler_realtime"):
        if name in body:
            if not isinstance(body[name], bool):
                raise ValueError(f"{name} must be true or false")
            new[name] = body[name]
    with LOCK:
        CONFIG.update(new)
    return config()


def delay(kind: str) -> float:
    """How long a transition of this kind lasts: its own delay, else delay_seconds."""
    if kind not in KINDS:
        raise KeyError(kind)
    return CONFIG["delays"].get(kind, CONFIG["delay_seconds"])


def elapsed(since: float, kind: str) -> bool:
    return time.monotonic() - since >= delay(kind)


def hidden(born) -> bool:
    """Whether a resource created at monotonic time `born` is still invisible (eventual
    consistency): describes leave it out and calls that name it answer NotFound."""
    window = CONFIG["consistency_seconds"]
    return window > 0 and born is not None and time.monotonic() - born < window


def clock_offset() -> float:
    """How far the emulator's `Date` header is from the real time, in seconds."""
    return CONFIG["clock_offset_seconds"]


def quotas() -> bool:
    return CONFIG["quotas"]


def scheduler_realtime() -> bool:
    """Whether due schedules run by themselves, by the clock (else only when a test asks)."""
    return CONFIG["scheduler_realtime"]


def mutation_limit(quota: int) -> int:
    """The concurrent-operation limit per endpoint: the configured one, else AWS's `quota`
    when quotas are on, else none (0)."""
    return CONFIG["concurrent_mutation_limit"] or (quota if CONFIG["quotas"] else 0)


# ---------------------------------------------------------------- faults
ACTION = re.compile(r"^[A-Z][A-Za-z0-9]+$")


def add_fault(body) -> dict:
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    unknown = set(body) - {"action", "code", "count", "async_state"}
    if unknown:
        raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))}")
    action = body.get("action")
    if not isinstance(action, str) or not ACTION.match(action):
        raise ValueError("action must be an API action name, such as CreateClientVpnEndpoint")
    count = _count("count", body.get("count", 1), 1)
    code = body.get("code")
    fault = {"action": action, "count": count}
    if "async_state" in body:
        kind = ASYNC_FAULTS.get(action)
        if kind is None or body["async_state"] != kind["state"]:
            allowed = "; ".join(f"{a}: {k['state']}" for a, k in ASYNC_FAULTS.items())
            raise ValueError(f"async_state is only for {allowed}")
        code = kind["default"] if code is None else code
        if code not in kind["codes"]:
            raise ValueError(f"code must be one of {', '.join(kind['codes'])}")
        fault["async_state"] = body["async_state"]
    elif not isinstance(code, str) or not code:
        raise ValueError("code must be an AWS error code, such as RequestLimitExceeded")
    fault["code"] = code
    with LOCK:
        FAULTS.append(fault)
    return dict(fault)


def faults() -> list:
    with LOCK:
        return [dict(f) for f in FAULTS]


def clear_faults() -> None:
    with LOCK:
        FAULTS.clear()


def _take(action: str, asynchronous: bool):
    """Use up one call of the oldest pending fault of this kind for `action` (lock held)."""
    for fault in FAULTS:
        if fault["action"] == action and ("async_state" in fault) == asynchronous:
            fault["count"] -= 1
            if fault["count"] == 0:
                FAULTS.remove(fault)
            return dict(fault)
    return None


def take_async_fault(action: str):
    """The failure code a resource just created by `action` must end in, if one is pending."""
    with LOCK:
        fault = _take(action, asynchronous=True)
    return fault["code"] if fault else None


def on_call(action: str, service: str | None = None, iam: str | None = None):
    """Count one call of `action` (of moto's `service`, or named `iam` in IAM when its IAM
    action is not `service:action`); return the fault it must answer with, if any."""
    with LOCK:
        CALLS[action] = CALLS.get(action, 0) + 1
        if service and not iam:
            iam = f"{IAM_PREFIX.get(service, service)}:{action}"
        if iam:
            ACTIONS[iam] = ACTIONS.get(iam, 0) + 1
        return _take(action, asynchronous=False)


def calls() -> dict:
    with LOCK:
        return dict(CALLS)


def actions() -> dict:
    """The calls since the last reset by IAM action name, e.g. {"acm:ImportCertificate": 1}."""
    with LOCK:
        return dict(ACTIONS)


def clear_calls() -> None:
    with LOCK:
        CALLS.clear()
        ACTIONS.clear()


# ---------------------------------------------------------------- the dispatch hook
def install() -> None:
    """Every AWS call moto serves passes BaseResponse.call_action with its action name known:
    count it there, and answer an injected fault in the service's own error format (EC2 query
    XML, ACM JSON, ...) before moto handles the call."""
    from moto.core.exceptions import ServiceException
    from moto.core.responses import ActionResult, BaseResponse

    class InjectedFault(ServiceException):
        """Defined outside moto's packages, so moto serializes it with the service's own error
        model (it looks a moto exception's service up by its module)."""

    original = require(BaseResponse, "call_action")
    for attr in ("_get_action", "serialized", "_enrich_response"):
        require(BaseResponse, attr)

    def call_action(self):
        try:
            action = self._get_action()
        except Exception:
            action = None
        fault = on_call(action, getattr(self, "service_name", None)) if action else None
        if fault is None:
            return original(self)
        code = fault["code"]
        message = FAULT_MESSAGES.get(code, f"{code} (a fault injected through the emulator's control API)")
        status, headers, body = self.serialized(ActionResult(InjectedFault(code, message)))
        status = SERVER_STATUS.get(code, status)
        if "status" in headers:
            headers["status"] = status
        headers, body = self._enrich_response(headers, body)
        return status, headers, body

    BaseResponse.call_action = call_action
