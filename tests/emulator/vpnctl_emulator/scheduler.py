"""EventBridge Scheduler that runs its targets: moto stores schedules and IAM roles but never
invokes anything. A run (the control API's `POST /_emulator/scheduler/run`, or the real-time
thread every second) takes every enabled schedule of every account and region, finds what is
due up to its time, and calls each universal target's API action on the emulator's own HTTP
endpoint, so moto's services and our Client VPN API serve it, counted and faulted like any call.

Per schedule, what has been run is kept on moto's Schedule object (`_vpnctl_run`): moto's reset
wipes it with the schedule, and an UpdateSchedule (a new LastModificationDate) starts it afresh.
The invocations made since the last reset are kept here, for `GET /_emulator/scheduler/invocations`.
"""
import calendar
import datetime
import fnmatch
import itertools
import json
import re
import sys
import threading
import urllib.parse
import zoneinfo

from . import control
from .hooks import require

UTC = datetime.timezone.utc
LOCK = threading.RLock()  # one run at a time; the invocations list
INVOCATIONS: list = []  # {"schedule", "group", "action", "ok", "error"}, oldest first
STATE_ATTR = "_vpnctl_run"
SERVICE_PRINCIPAL = "scheduler.amazonaws.com"
# "EventBridge Scheduler does not support read-only API actions ... that begin with the following
# list of prefixes" (Using universal targets, EventBridge Scheduler user guide).
READ_ONLY_PREFIXES = (
    "get", "describe", "list", "poll", "receive", "search", "scan", "query", "select", "read", "lookup",
    "discover", "validate", "batchGet", "batchDescribe", "batchRead", "transactGet", "adminGet", "adminList",
    "testMigration", "retrieve", "testConnection", "translateDocument", "isAuthorized", "invokeModel",
)
# The API action of each templated target, by the service in its ARN (templated targets are
# not run: the invocation fails, naming the action).
TEMPLATED = {"lambda": "Invoke", "sqs": "SendMessage", "sns": "Publish", "states": "StartExecution",
             "events": "PutEvents", "ecs": "RunTask", "kinesis": "PutRecord", "firehose": "PutRecord",
             "sagemaker": "StartPipelineExecution", "codebuild": "StartBuild",
             "codepipeline": "StartPipelineExecution", "inspector": "StartAssessmentRun"}
# The service of a universal target's ARN is the SDK's service identifier; where boto3 names
# the service otherwise, its name here (`aws-sdk:sfn:startExecution` is Step Functions).
BOTO3_SERVICE = {"sfn": "stepfunctions"}
UNIVERSAL = re.compile(r"^arn:aws(-[a-z]+)*:scheduler:::aws-sdk:([a-z0-9-]+):([A-Za-z0-9]+)$")
ROLE_ARN = re.compile(r"^arn:aws(-[a-z]+)*:iam::(\d{12}):role/[\w+=,.@/-]+$")
# A run that would make more calls than this for one schedule is refused: a cron of every
# minute run years ahead is a mistake in the test, not something to serve.
MAX_OCCURRENCES = 10000
_ENDPOINT = {"url": None}
_CLIENTS: dict = {}


# ---------------------------------------------------------------- schedule expressions
class At:
    """at(yyyy-mm-ddThh:mm:ss): one time, in the schedule's time zone."""

    def __init__(self, when: datetime.datetime):
        self.when = when


class Rate:
    """rate(value unit): every `step`, from StartDate or else from when the schedule was made."""

    def __init__(self, step: datetime.timedelta):
        self.step = step


FIELD_RANGES = {"minutes": (0, 59), "hours": (0, 23), "day-of-month": (1, 31), "month": (1, 12),
                "day-of-week": (1, 7), "year": (1970, 2199)}
MONTHS = {m.upper(): i for i, m in enumerate(calendar.month_abbr) if m}
DAYS = {d: i for i, d in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), start=1)}


def _number(text, field, names=None):
    value = (names or {}).get(text.upper()) if names else None
    if value is None:
        if not text.isdigit():
            raise ValueError(f"cron {field}: {text!r} is not a value")
        value = int(text)
    low, high = FIELD_RANGES[field]
    if not low <= value <= high:
        raise ValueError(f"cron {field}: {value} is outside {low}-{high}")
    return value


def _values(text, field, names=None) -> set:
    """The plain wildcards every field has: `,` `-` `*` `/`."""
    low, high = FIELD_RANGES[field]
    found = set()
    for item in text.split(","):
        base, _, step = item.partition("/")
        if step and not (step.isdigit() and int(step) > 0):
            raise ValueError(f"cron {field}: bad increment in {item!r}")
        if base == "*":
            first, last = low, high
        elif "-" in base:
            a, b = base.split("-", 1)
            first, last = _number(a, field, names), _number(b, field, names)
            if first > last:
                raise ValueError(f"cron {field}: range {item!r} runs backwards")
        else:
            first = _number(base, field, names)
            last = high if step else first
        found.update(range(first, last + 1, int(step) if step else 1))
    return found


class Cron:
    """cron(minutes hours day-of-month month day-of-week year), in the schedule's time zone, with
    the wildcards of the EventBridge cron reference: , - * / everywhere, ? in exactly one of the
    day fields, L and W in day-of-month, L and # in day-of-week (1 = SUN)."""

    def __init__(self, fields: str):
        parts = fields.split()
        if len(parts) != 6:
            raise ValueError("a cron expression has six fields: minutes hours day-of-month month day-of-week year")
        minutes, hours, dom, month, dow, year = parts
        if (dom == "?") == (dow == "?"):
            raise ValueError("cron: exactly one of day-of-month and day-of-week must be ?")
        self.minutes = sorted(_values(minutes, "minutes"))
        self.hours = sorted(_values(hours, "hours"))
        self.months = _values(month, "month", MONTHS)
        self.years = _values(year, "year")
        self.dom = None if dom == "?" else [self._dom_item(i) for i in dom.split(",")]
        self.dow = None if dow == "?" else [self._dow_item(i) for i in dow.split(",")]

    @staticmethod
    def _dom_item(item):
        if item == "L":
            return ("last",)
        if item == "LW":
            return ("last-weekday",)
        if item.endswith("W"):
            return ("nearest-weekday", _number(item[:-1], "day-of-month"))
        return ("days", _values(item, "day-of-month"))

    @staticmethod
    def _dow_item(item):
        if item == "L":
            return ("days", {7})
        if item.endswith("L"):
            return ("last-of-month", _number(item[:-1], "day-of-week", DAYS))
        if "#" in item:
            day, nth = item.split("#", 1)
            if not (nth.isdigit() and 1 <= int(nth) <= 5):
                raise ValueError(f"cron day-of-week: bad instance in {item!r}")
            return ("nth", _number(day, "day-of-week", DAYS), int(nth))
        return ("days", _values(item, "day-of-week", DAYS))

    def day_matches(self, d: datetime.date) -> bool:
        if d.month not in self.months or d.year not in self.years:
            return False
        length = calendar.monthrange(d.year, d.month)[1]
        if self.dom is not None:
            return any(self._dom_matches(item, d, length) for item in self.dom)
        weekday = (d.weekday() + 1) % 7 + 1  # SUN = 1 ... SAT = 7
        for item in self.dow:
            if item[0] == "days" and weekday in item[1]:
                return True
            if item[0] == "last-of-month" and weekday == item[1] and d.day + 7 > length:
                return True
            if item[0] == "nth" and weekday == item[1] and (d.day - 1) // 7 + 1 == item[2]:
                return True
        return False

    @staticmethod
    def _dom_matches(item, d, length) -> bool:
        if item[0] == "days":
            return d.day in item[1]
        if item[0] == "last":
            return d.day == length
        wanted = length if item[0] == "last-weekday" else min(item[1], length)
        # The weekday nearest to that day, within the month (Saturday -> Friday, Sunday -> Monday).
        target = d.replace(day=wanted)
        if target.weekday() == 5:
            target = target - datetime.timedelta(days=1) if wanted > 1 else target + datetime.timedelta(days=2)
        elif target.weekday() == 6:
            target = target + datetime.timedelta(days=1) if wanted < length else target - datetime.timedelta(days=2)
        return d == target

    def times(self, tz, since: datetime.datetime, until: datetime.datetime):
        """UTC times in (since, until]. A local time that does not exist (the hour skipped when
        daylight saving time starts) is skipped; one that happens twice runs once, the first time."""
        day = since.astimezone(tz).date()
        last = until.astimezone(tz).date()
        while day <= last:
            if self.day_matches(day):
                for hour in self.hours:
                    for minute in self.minutes:
                        local = datetime.datetime(day.year, day.month, day.day, hour, minute)
                        when = local.replace(tzinfo=tz).astimezone(UTC)
                        if when.astimezone(tz).replace(tzinfo=None) != local:
                            continue  # in the gap of a spring-forward
                        if since < when <= until:
                            yield when
            day += datetime.timedelta(days=1)


UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


def parse_expression(expression) -> object:
    """At, Rate or Cron; ValueError (with the reason) for anything else."""
    text = (expression or "").strip()
    m = re.fullmatch(r"at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)", text)
    if m:
        return At(datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"))
    m = re.fullmatch(r"rate\((\d+) ([a-z]+)\)", text)
    if m:
        value, unit = int(m.group(1)), m.group(2)
        if value < 1 or unit not in UNITS:
            raise ValueError("a rate expression is rate(value unit): a positive value; minute(s), hour(s) or day(s)")
        return Rate(datetime.timedelta(seconds=value * UNITS[unit]))
    m = re.fullmatch(r"cron\((.*)\)", text)
    if m:
        return Cron(m.group(1))
    raise ValueError("the expression must be at(yyyy-mm-ddThh:mm:ss), rate(value unit) or cron(fields)")


def time_zone(name):
    try:
        return zoneinfo.ZoneInfo(name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


def as_utc(value):
    """StartDate/EndDate as moto keeps them (epoch seconds from the SDKs, or ISO text)."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return datetime.datetime.fromtimestamp(value, UTC)
    text = str(value)
    try:
        return datetime.datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        when = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def parse_until(value) -> datetime.datetime:
    if not isinstance(value, str):
        raise ValueError("until must be an RFC 3339 time, such as 2026-01-02T03:04:05Z")
    try:
        when = datetime.datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"until must be an RFC 3339 time, such as 2026-01-02T03:04:05Z; got {value!r}") from None
    if when.tzinfo is None:
        raise ValueError(f"until needs its offset (Z for UTC): {value!r}")
    return when.astimezone(UTC)


# ---------------------------------------------------------------- what a schedule has run
class RunState:
    """Kept on one version of a schedule: how far its occurrences have been taken (`cursor`,
    in scheduled times), whether its one time has come, and the failed events still to retry."""

    def __init__(self, version, base):
        self.version = version
        self.cursor = base - datetime.timedelta(microseconds=1)
        self.fired = False
        self.pending: list = []  # Event


class Event:
    def __init__(self, scheduled):
        self.scheduled = scheduled  # the occurrence's own time (UTC)
        self.attempts = 0


def state_of(schedule) -> RunState:
    version = schedule.last_modified_date
    st = schedule.__dict__.get(STATE_ATTR)
    if st is None or st.version != version:
        st = RunState(version, datetime.datetime.fromtimestamp(version, UTC))
        schedule.__dict__[STATE_ATTR] = st
    return st


def window(schedule) -> datetime.timedelta:
    """With a flexible time window AWS invokes at some time within it: we take the latest."""
    ftw = schedule.flexible_time_window or {}
    if ftw.get("Mode") == "FLEXIBLE":
        return datetime.timedelta(minutes=int(ftw.get("MaximumWindowInMinutes") or 0))
    return datetime.timedelta(0)


def retry_policy(schedule):
    policy = (schedule.target or {}).get("RetryPolicy") or {}
    attempts = policy.get("MaximumRetryAttempts")
    age = policy.get("MaximumEventAgeInSeconds")
    # AWS's defaults when a field is not given: 185 retries, 24 hours.
    return (185 if attempts is None else int(attempts)), datetime.timedelta(seconds=86400 if age is None else int(age))


def due(schedule, st, until):
    """The new occurrences of this schedule due by `until` (their scheduled times), and the
    cursor past them. Changes nothing, so that a refused run leaves every schedule as it was."""
    expr = parse_expression(schedule.schedule_expression)
    tz = time_zone(schedule.schedule_expression_timezone)
    latest = until - window(schedule)
    if isinstance(expr, At):
        # EventBridge Scheduler ignores StartDate and EndDate for one-time schedules.
        when = expr.when.replace(tzinfo=tz).astimezone(UTC)
        return ([] if st.fired or when > latest else [when]), st.cursor
    start, end = as_utc(schedule.start_date), as_utc(schedule.end_date)
    since = st.cursor
    if start is not None and start - datetime.timedelta(microseconds=1) > since:
        since = start - datetime.timedelta(microseconds=1)
    upto = min(latest, end) if end is not None else latest
    cursor = max(st.cursor, latest)
    if upto <= since:
        return [], cursor
    if isinstance(expr, Rate):
        first = start or datetime.datetime.fromtimestamp(st.version, UTC)
        k = max(0, -(-(since - first) // expr.step))  # the first step after `since`
        times = (first + n * expr.step for n in itertools.count(k))
        times = itertools.takewhile(lambda when: when <= upto, (w for w in times if w > since))
    else:
        times = expr.times(tz, since, upto)
    found = list(itertools.islice(times, MAX_OCCURRENCES + 1))
    if len(found) > MAX_OCCURRENCES:
        raise ValueError(
            f"schedule {schedule.group_name}/{schedule.name} has more than {MAX_OCCURRENCES} occurrences "
            f"before {until.isoformat()}: run to an earlier time"
        )
    return found, cursor


def finished(schedule, st) -> bool:
    """Whether the schedule has made its last invocation: a one-time schedule once its one time
    has come and nothing is left to retry; a recurring one once its EndDate has passed."""
    if st.pending:
        return False
    if isinstance(parse_expression(schedule.schedule_expression), At):
        return st.fired
    end = as_utc(schedule.end_date)
    return end is not None and st.cursor >= end


# ---------------------------------------------------------------- the execution role
def _listed(value):
    return value if isinstance(value, list) else [value]


def _condition_holds(conditions, context) -> bool:
    """IAM's reading of a Condition block, for the keys Scheduler supplies when it assumes the
    role (aws:SourceAccount, aws:SourceArn); a key it does not supply fails the test, except
    for the IfExists and negated operators, as in IAM."""
    for operator, tests in (conditions or {}).items():
        name = operator[:-8] if operator.endswith("IfExists") else operator
        if_exists = name != operator
        negated = "Not" in name
        base = name.replace("Not", "")
        if base not in ("StringEquals", "StringLike", "StringEqualsIgnoreCase", "ArnEquals", "ArnLike"):
            return False  # an operator we do not evaluate: never more lenient than AWS
        for key, wanted in (tests or {}).items():
            actual = context.get(key.lower())
            if actual is None:
                if if_exists or negated:
                    continue
                return False
            wanted = [str(w) for w in _listed(wanted)]
            if base in ("StringLike", "ArnLike"):
                hit = any(fnmatch.fnmatchcase(actual, w) for w in wanted)
            elif base == "StringEqualsIgnoreCase":
                hit = actual.lower() in (w.lower() for w in wanted)
            else:
                hit = actual in wanted
            if hit == negated:
                return False
    return True


def trusts_scheduler(document, context) -> bool:
    """Whether a trust policy lets scheduler.amazonaws.com call sts:AssumeRole (an explicit Deny wins)."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            document = json.loads(urllib.parse.unquote(document))
    allowed = False
    for st in _listed((document or {}).get("Statement") or []):
        if not isinstance(st, dict) or "Action" not in st or "Principal" not in st:
            continue
        if not any(fnmatch.fnmatch("sts:assumerole", str(a).lower()) for a in _listed(st["Action"])):
            continue
        principal = st["Principal"]
        services = _listed(principal.get("Service", [])) if isinstance(principal, dict) else []
        if principal != "*" and SERVICE_PRINCIPAL not in services:
            continue
        if not _condition_holds(st.get("Condition"), context):
            continue
        if st.get("Effect") == "Deny":
            return False
        allowed = allowed or st.get("Effect") == "Allow"
    return allowed


def check_role(schedule, account, region) -> None:
    """The invocation fails unless the schedule's execution role exists and trusts Scheduler."""
    from moto.iam.models import iam_backends
    from moto.utilities.utils import get_partition

    role_arn = (schedule.target or {}).get("RoleArn") or ""
    m = ROLE_ARN.match(role_arn)
    if not m:
        raise Refused(f"RoleArn {role_arn!r} is not an IAM role ARN")
    iam = iam_backends[m.group(2)][get_partition(region)]
    role = next((r for r in list(iam.roles.values()) if r.arn == role_arn), None)
    if role is None:
        raise Refused(f"the execution role {role_arn} does not exist")
    # Scheduler assumes the role with the schedule's group as aws:SourceArn.
    group_arn = schedule.arn.split(":schedule/")[0] + f":schedule-group/{schedule.group_name}"
    context = {"aws:sourceaccount": account, "aws:sourcearn": group_arn}
    try:
        trusted = trusts_scheduler(role.assume_role_policy_document, context)
    except (ValueError, AttributeError, TypeError):
        trusted = False
    if not trusted:
        raise Refused(
            f"The execution role you provide must allow AWS EventBridge Scheduler to assume the role: "
            f"the AssumeRolePolicyDocument of {role_arn} does not allow {SERVICE_PRINCIPAL} sts:AssumeRole "
            f"(aws:SourceAccount {account}, aws:SourceArn {group_arn})"
        )


# ---------------------------------------------------------------- invoking a target
class Refused(Exception):
    """The invocation failed before or instead of the call; the message is the error."""


def client(service, region, account):
    """A boto3 client for the emulator's own endpoint, calling as `account`, without the SDK's
    own retries: the schedule's retry policy is the only retrying."""
    key = (service, region, account)
    if key not in _CLIENTS:
        import boto3
        from botocore.config import Config

        session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                        region_name=region)
        made = session.client(service, endpoint_url=_ENDPOINT["url"], config=Config(
            retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=10, read_timeout=60))

        def as_account(request, **_):
            request.headers["x-moto-account-id"] = account

        made.meta.events.register("before-sign", as_account)
        _CLIENTS[key] = made
    return _CLIENTS[key]


def target_action(schedule):
    """(service, camelCase apiAction, PascalCase action name) of a universal target."""
    arn = (schedule.target or {}).get("Arn") or ""
    m = UNIVERSAL.match(arn)
    if not m:
        raise Refused(
            f"the emulator runs only universal targets (arn:aws:scheduler:::aws-sdk:<service>:<apiAction>), not {arn}"
        )
    service, api_action = m.group(2), m.group(3)
    return service, api_action, api_action[:1].upper() + api_action[1:]


def invoke(schedule, account, region):
    """Call the schedule's target once; returns (action, error or None)."""
    try:
        service, api_action, action = target_action(schedule)
    except Refused as exc:
        service = ((schedule.target or {}).get("Arn") or "").split(":")[2:3]
        return TEMPLATED.get(service[0] if service else "", ""), str(exc)
    try:
        if not api_action[:1].islower():
            camel = action[:1].lower() + action[1:]
            raise Refused(f"the apiAction of {schedule.target['Arn']} must be camelCase, such as {camel}")
        if api_action.lower().startswith(tuple(p.lower() for p in READ_ONLY_PREFIXES)):
            raise Refused(f"EventBridge Scheduler does not support the read-only action {service}:{api_action}")
        check_role(schedule, account, region)
        text = (schedule.target or {}).get("Input")
        try:
            params = json.loads(text) if text else {}
        except ValueError:
            raise Refused(f"the target's Input is not well-formed JSON: {text!r}") from None
        if not isinstance(params, dict):
            raise Refused("the target's Input must be a JSON object of the API's parameters")
        from botocore import xform_name
        from botocore.exceptions import ClientError, ParamValidationError, UnknownServiceError

        try:
            api = client(BOTO3_SERVICE.get(service, service), region, account)
        except UnknownServiceError:
            raise Refused(f"unknown service {service!r} in {schedule.target['Arn']}") from None
        names = {n.lower(): n for n in api.meta.service_model.operation_names}
        if api_action.lower() not in names:
            raise Refused(f"{service} has no API action {api_action}")
        action = names[api_action.lower()]
        try:
            getattr(api, xform_name(action))(**params)
        except ClientError as exc:
            e = exc.response.get("Error", {})
            return action, f"{e.get('Code') or 'Error'}: {e.get('Message') or exc}"
        except ParamValidationError as exc:
            return action, f"ValidationException: {exc}"
    except Refused as exc:
        return action, str(exc)
    except Exception as exc:  # the call could not be made at all
        return action, f"{type(exc).__name__}: {exc}"
    return action, None


# ---------------------------------------------------------------- a run
def schedules():
    """(account, region, backend, schedule) for every schedule moto holds."""
    from moto.scheduler import models

    backends = require(models, "scheduler_backends")
    for account, regions in list(dict.items(backends)):
        for region, backend in list(dict.items(regions)):
            for group in list(backend.schedule_groups.values()):
                for schedule in list(group.schedules.values()):
                    yield account, region, backend, schedule


def still_there(backend, schedule) -> bool:
    group = backend.schedule_groups.get(schedule.group_name)
    return group is not None and group.schedules.get(schedule.name) is schedule


def delete(backend, schedule) -> None:
    if still_there(backend, schedule):
        backend.schedule_groups[schedule.group_name].delete_schedule(schedule.name)


def run(until: datetime.datetime) -> list:
    """Run everything due by `until`, in time order; returns the invocations made."""
    with LOCK:
        plan = []  # what each schedule has due, worked out before anything changes
        for order, (account, region, backend, schedule) in enumerate(list(schedules())):
            st = state_of(schedule)
            if schedule.state == "DISABLED":
                # A disabled schedule runs nothing, and does not catch up when enabled again.
                skipped = max(st.cursor, until - window(schedule))
                plan.append((order, account, region, backend, schedule, st, [], skipped))
            else:
                plan.append((order, account, region, backend, schedule, st, *due(schedule, st, until)))
        work = []  # (scheduled, order, account, region, backend, schedule, state, event)
        for order, account, region, backend, schedule, st, times, cursor in plan:
            st.cursor = cursor
            if schedule.state == "DISABLED":
                continue
            retries, age = retry_policy(schedule)
            for event in list(st.pending):
                if until - event.scheduled > age:
                    st.pending.remove(event)  # too old to retry: given up
                else:
                    work.append((event.scheduled, order, account, region, backend, schedule, st, event))
            for when in times:
                st.fired = True
                event = Event(when)
                st.pending.append(event)
                work.append((when, order, account, region, backend, schedule, st, event))
            if schedule.action_after_completion == "DELETE" and finished(schedule, st):
                delete(backend, schedule)
        made = []
        for _, _, account, region, backend, schedule, st, event in sorted(work, key=lambda w: w[:2]):
            if not still_there(backend, schedule):
                continue  # deleted meanwhile (by an earlier target of this run)
            action, error = invoke(schedule, account, region)
            event.attempts += 1
            retries, _ = retry_policy(schedule)
            if error is None or event.attempts > retries:
                st.pending.remove(event)  # done, or given up after its last retry
            made.append({"schedule": schedule.name, "group": schedule.group_name, "action": action,
                         "ok": error is None, "error": error})
            if schedule.action_after_completion == "DELETE" and finished(schedule, st):
                delete(backend, schedule)
        INVOCATIONS.extend(made)
        return [dict(i) for i in made]


def invocations() -> list:
    with LOCK:
        return [dict(i) for i in INVOCATIONS]


def reset() -> None:
    with LOCK:
        INVOCATIONS.clear()


def run_request(body) -> list:
    """Control API: POST /_emulator/scheduler/run {"until": "<RFC 3339>"}."""
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    unknown = set(body) - {"until"}
    if unknown:
        raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))}")
    if "until" not in body:
        raise ValueError("until is required: an RFC 3339 time, such as 2026-01-02T03:04:05Z")
    return run(parse_until(body["until"]))


# ---------------------------------------------------------------- real time
def _tick(stop: threading.Event) -> None:
    while not stop.wait(1.0):
        if not control.scheduler_realtime():
            continue
        try:
            run(datetime.datetime.now(UTC))
        except Exception as exc:  # keep ticking; say why once per failure
            print(f"vpnctl emulator: scheduler run failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)


def start(url: str) -> threading.Event:
    """Call the targets on `url` (the emulator's own endpoint) and run due schedules every second
    while scheduler_realtime is on; returns the event that stops the thread."""
    _ENDPOINT["url"] = url
    stop = threading.Event()
    threading.Thread(target=_tick, args=(stop,), name="scheduler", daemon=True).start()
    return stop


# ---------------------------------------------------------------- moto's scheduler API
def install() -> None:
    """CreateSchedule and UpdateSchedule refuse an expression or time zone the runner cannot
    read (stock moto accepts any text), with AWS's ValidationException; UpdateSchedule applies
    ActionAfterCompletion and State as AWS does (stock moto keeps the old ActionAfterCompletion
    and leaves State empty when it is not given, where AWS means NONE and ENABLED). A schedule
    in a group that does not exist, and the deletion of such a group, answer AWS's
    ResourceNotFoundException (stock moto: HTTP 500); a group created twice, ConflictException
    (stock moto replaces it)."""
    from moto.scheduler import exceptions, models, responses

    ValidationException = require(exceptions, "ValidationException")
    Backend = require(models, "EventBridgeSchedulerBackend")
    Response = require(responses, "EventBridgeSchedulerResponse")
    require(models, "scheduler_backends")
    require(models.Schedule, "update")
    orig_create = require(Backend, "create_schedule")
    orig_update = require(Backend, "update_schedule")
    orig_update_response = require(Response, "update_schedule")
    for attr in ("_get_param", "scheduler_backend"):
        require(Response, attr)

    def check(kwargs):
        try:
            parse_expression(kwargs.get("schedule_expression"))
            time_zone(kwargs.get("schedule_expression_timezone"))
        except ValueError as exc:
            raise ValidationException(f"Invalid Schedule Expression {kwargs.get('schedule_expression')!r}: {exc}")

    GroupNotFound = require(exceptions, "ScheduleGroupNotFound")
    from moto.core.exceptions import JsonRESTError

    class GroupExists(JsonRESTError):
        code = 409

        def __init__(self, name):
            super().__init__("ConflictException", f"Schedule group {name} already exists.")

    orig_create_group = require(Backend, "create_schedule_group")
    orig_delete_group = require(Backend, "delete_schedule_group")
    require(Backend, "get_schedule_group")

    def create_schedule(self, **kwargs):
        check(kwargs)
        # AWS: ResourceNotFoundException for a group that does not exist (stock moto: 500).
        self.get_schedule_group(kwargs.get("group_name"))
        return orig_create(self, **kwargs)

    def create_schedule_group(self, name, tags):
        # AWS: ConflictException for a name in use (stock moto replaces the group, its
        # schedules lost, and merges the tags).
        if name in self.schedule_groups:
            raise GroupExists(name)
        return orig_create_group(self, name, tags)

    def delete_schedule_group(self, name):
        # AWS: ResourceNotFoundException for a group that does not exist (stock moto: 500).
        if (name or "default") not in self.schedule_groups:
            raise GroupNotFound(name or "default")
        return orig_delete_group(self, name)

    def update_schedule(self, **kwargs):
        check(kwargs)
        return orig_update(self, **kwargs)

    def update_schedule_response(self):
        result = orig_update_response(self)
        name = self.uri.split("?")[0].split("/")[-1]
        schedule = self.scheduler_backend.get_schedule(self._get_param("GroupName"), name)
        schedule.action_after_completion = self._get_param("ActionAfterCompletion") or "NONE"
        schedule.state = schedule.state or "ENABLED"
        return result

    Backend.create_schedule = create_schedule
    Backend.create_schedule_group = create_schedule_group
    Backend.delete_schedule_group = delete_schedule_group
    Backend.update_schedule = update_schedule
    Response.update_schedule = update_schedule_response
