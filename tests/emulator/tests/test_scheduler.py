"""EventBridge Scheduler runs its targets: POST /_emulator/scheduler/run, the real-time thread,
execution roles, ActionAfterCompletion, retry policies and time zones."""
import datetime
import json
import time
from zoneinfo import ZoneInfo

import pytest

from conftest import expect

UTC = datetime.timezone.utc
TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "scheduler.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


def iso(when):
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def at(when, tz="UTC"):
    return f"at({when.astimezone(ZoneInfo(tz)).strftime('%Y-%m-%dT%H:%M:%S')})"


def soon(minutes=10):
    return datetime.datetime.now(UTC).replace(microsecond=0) + datetime.timedelta(minutes=minutes)


def run(emulator, until):
    status, body = emulator.control("/_emulator/scheduler/run", {"until": iso(until)})
    assert status == 200, body
    return body


def invoked(name, action, error=None, group="default"):
    return {"schedule": name, "group": group, "action": action, "ok": error is None, "error": error}


@pytest.fixture
def scheduler(emulator):
    return emulator.client("scheduler")


@pytest.fixture
def iam(emulator):
    return emulator.client("iam")


@pytest.fixture
def role(iam):
    return iam.create_role(RoleName="vpnctl-scheduler", AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]


@pytest.fixture
def make_schedule(scheduler, role):
    def make(name, expression, api_action, params, retry=None, service="ec2", **kwargs):
        target = {"Arn": f"arn:aws:scheduler:::aws-sdk:{service}:{api_action}", "RoleArn": kwargs.pop("role", role),
                  "Input": json.dumps(params)}
        if retry is not None:
            target["RetryPolicy"] = retry
        scheduler.create_schedule(Name=name, ScheduleExpression=expression, Target=target,
                                  FlexibleTimeWindow=kwargs.pop("window", {"Mode": "OFF"}), **kwargs)
    return make


@pytest.fixture
def association(ec2, make_endpoint, net):
    ep = make_endpoint()
    assoc = ec2.associate_client_vpn_target_network(ClientVpnEndpointId=ep, SubnetId=net["a"])["AssociationId"]
    return ep, assoc


def associations(ec2, ep):
    return [a["AssociationId"] for a in ec2.describe_client_vpn_target_networks(ClientVpnEndpointId=ep)["ClientVpnTargetNetworks"]]


def names(scheduler):
    return sorted(s["Name"] for s in scheduler.list_schedules()["Schedules"])


# ---------------------------------------------------------------- one-time schedules
@pytest.mark.parametrize("after", ["DELETE", "NONE"])
def test_one_time_schedule_disassociates_once_its_time_has_passed(emulator, ec2, scheduler, make_schedule, association, after):
    ep, assoc = association
    when = soon()
    make_schedule("vpnctl-lab-ttl", at(when), "disassociateClientVpnTargetNetwork",
                  {"ClientVpnEndpointId": ep, "AssociationId": assoc}, ActionAfterCompletion=after)
    assert run(emulator, when - datetime.timedelta(seconds=1)) == []
    assert associations(ec2, ep) == [assoc]
    assert run(emulator, when) == [invoked("vpnctl-lab-ttl", "DisassociateClientVpnTargetNetwork")]
    assert associations(ec2, ep) == []
    # DELETE removes the schedule once it has run; NONE keeps it, and it never runs again.
    assert names(scheduler) == ([] if after == "DELETE" else ["vpnctl-lab-ttl"])
    assert run(emulator, when + datetime.timedelta(days=2)) == []
    assert emulator.calls()["DisassociateClientVpnTargetNetwork"] == 1


def test_a_schedule_runs_in_its_own_region_and_the_runs_go_in_time_order(emulator, make_schedule, role, ec2):
    west = emulator.client("ec2", "us-west-2")
    eip_west = west.allocate_address(Domain="vpc")["AllocationId"]
    eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    when = soon()
    make_schedule("second", at(when + datetime.timedelta(minutes=1)), "releaseAddress", {"AllocationId": eip})
    emulator.client("scheduler", "us-west-2").create_schedule(
        Name="first", ScheduleExpression=at(when), FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": "arn:aws:scheduler:::aws-sdk:ec2:releaseAddress", "RoleArn": role,
                "Input": json.dumps({"AllocationId": eip_west})})
    assert run(emulator, when + datetime.timedelta(minutes=5)) == [
        invoked("first", "ReleaseAddress"), invoked("second", "ReleaseAddress")]
    assert west.describe_addresses()["Addresses"] == [] and ec2.describe_addresses()["Addresses"] == []


def test_moving_a_one_time_schedule_arms_it_again(emulator, scheduler, make_schedule, role, net, ec2):
    when = soon()
    make_schedule("tag", at(when), "createTags", {"Resources": [net["vpc"]], "Tags": [{"Key": "k", "Value": "1"}]},
                  ActionAfterCompletion="NONE")
    assert len(run(emulator, when)) == 1
    later = when + datetime.timedelta(hours=1)
    # UpdateSchedule replaces the whole schedule, as on AWS: ActionAfterCompletion left out is NONE.
    scheduler.update_schedule(Name="tag", ScheduleExpression=at(later), FlexibleTimeWindow={"Mode": "OFF"},
                              Target={"Arn": "arn:aws:scheduler:::aws-sdk:ec2:createTags", "RoleArn": role,
                                      "Input": json.dumps({"Resources": [net["vpc"]], "Tags": [{"Key": "k", "Value": "2"}]})})
    got = scheduler.get_schedule(Name="tag")
    assert got["State"] == "ENABLED" and got["ActionAfterCompletion"] == "NONE"
    assert run(emulator, later - datetime.timedelta(seconds=1)) == []
    assert run(emulator, later) == [invoked("tag", "CreateTags")]
    assert ec2.describe_vpcs(VpcIds=[net["vpc"]])["Vpcs"][0]["Tags"] == [{"Key": "k", "Value": "2"}]


def test_a_disabled_schedule_does_not_run(emulator, make_schedule, net):
    when = soon()
    make_schedule("off", at(when), "createTags", {"Resources": [net["vpc"]], "Tags": [{"Key": "k", "Value": "v"}]},
                  State="DISABLED")
    assert run(emulator, when + datetime.timedelta(hours=1)) == []


# ---------------------------------------------------------------- recurring schedules
def first_after_creation(scheduler, name, step):
    """The first time on the `step` grid at or after the schedule was created."""
    created = scheduler.get_schedule(Name=name)["CreationDate"].astimezone(UTC)
    midnight = created.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight + -((midnight - created) // step) * step


def test_cron_schedule_fires_once_per_occurrence(emulator, scheduler, make_schedule, net):
    make_schedule("every-quarter", "cron(0/15 * * * ? *)", "createTags",
                  {"Resources": [net["vpc"]], "Tags": [{"Key": "seen", "Value": "yes"}]})
    first = first_after_creation(scheduler, "every-quarter", datetime.timedelta(minutes=15))
    minutes = lambda m: first + datetime.timedelta(minutes=m)  # noqa: E731
    assert run(emulator, minutes(-1)) == []
    # The quarter-hours from its creation on: 0, 15, 30, 45; a second run over the same time runs none again.
    assert run(emulator, minutes(52)) == [invoked("every-quarter", "CreateTags")] * 4
    assert run(emulator, minutes(52)) == []
    assert len(run(emulator, minutes(82))) == 2  # 60 and 75
    assert emulator.calls()["CreateTags"] == 6


def test_rate_schedule_keeps_to_start_and_end_date_and_delete_waits_for_the_end(emulator, scheduler, make_schedule, net):
    start = soon(60)
    make_schedule("half-hourly", "rate(30 minutes)", "createTags",
                  {"Resources": [net["vpc"]], "Tags": [{"Key": "k", "Value": "v"}]},
                  StartDate=start, EndDate=start + datetime.timedelta(hours=2), ActionAfterCompletion="DELETE")
    assert run(emulator, start - datetime.timedelta(seconds=1)) == []
    assert len(run(emulator, start + datetime.timedelta(minutes=59))) == 2  # at the start, and 30 minutes on
    assert names(scheduler) == ["half-hourly"]  # a recurring schedule is deleted only after its last run
    assert len(run(emulator, start + datetime.timedelta(days=1))) == 3  # 60, 90 and 120 minutes on
    assert names(scheduler) == []


def test_a_flexible_time_window_runs_at_its_end(emulator, make_schedule, net):
    when = soon()
    make_schedule("flex", at(when), "createTags", {"Resources": [net["vpc"]], "Tags": [{"Key": "k", "Value": "v"}]},
                  window={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15})
    # AWS may invoke anywhere in the window; the emulator takes its latest time.
    assert run(emulator, when + datetime.timedelta(minutes=14, seconds=59)) == []
    assert len(run(emulator, when + datetime.timedelta(minutes=15))) == 1


def test_a_run_with_too_many_occurrences_is_refused_and_changes_nothing(emulator, scheduler, make_schedule, net):
    make_schedule("every-minute", "cron(* * * * ? *)", "createTags",
                  {"Resources": [net["vpc"]], "Tags": [{"Key": "k", "Value": "v"}]})
    first = first_after_creation(scheduler, "every-minute", datetime.timedelta(minutes=1))
    status, body = emulator.control("/_emulator/scheduler/run", {"until": iso(first + datetime.timedelta(days=3650))})
    assert status == 400 and "occurrences" in body["error"], body
    assert emulator.control("/_emulator/scheduler/invocations") == (200, [])
    assert len(run(emulator, first + datetime.timedelta(minutes=4, seconds=30))) == 5


# ---------------------------------------------------------------- the execution role
@pytest.mark.parametrize("trust, why", [
    ({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}, "another service"),
    ({"Effect": "Allow", "Principal": {"Service": "scheduler.amazonaws.com"}, "Action": "sts:TagSession"}, "another action"),
    ({"Effect": "Allow", "Principal": {"Service": "scheduler.amazonaws.com"}, "Action": "sts:AssumeRole",
      "Condition": {"StringEquals": {"aws:SourceAccount": "111122223333"}}}, "another account"),
])
def test_a_role_that_does_not_trust_scheduler_fails_the_invocation(emulator, iam, ec2, make_schedule, association, trust, why):
    ep, assoc = association
    arn = iam.create_role(RoleName="wrong", AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [trust]}))["Role"]["Arn"]
    when = soon()
    make_schedule("ttl", at(when), "disassociateClientVpnTargetNetwork",
                  {"ClientVpnEndpointId": ep, "AssociationId": assoc}, role=arn)
    [inv] = run(emulator, when)
    assert not inv["ok"] and inv["action"] == "DisassociateClientVpnTargetNetwork", why
    assert "scheduler.amazonaws.com" in inv["error"] and arn in inv["error"], inv["error"]
    assert "DisassociateClientVpnTargetNetwork" not in emulator.calls()
    assert associations(ec2, ep) == [assoc]
    # Trusted again (with the conditions AWS recommends), the next run's retry goes through.
    fixed = dict(TRUST["Statement"][0], Condition={
        "StringEquals": {"aws:SourceAccount": "123456789012"},
        "ArnLike": {"aws:SourceArn": "arn:aws:scheduler:us-east-1:123456789012:schedule-group/default"}})
    iam.update_assume_role_policy(RoleName="wrong", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [fixed]}))
    assert run(emulator, when + datetime.timedelta(minutes=1)) == [invoked("ttl", "DisassociateClientVpnTargetNetwork")]
    assert associations(ec2, ep) == []


def test_a_missing_role_fails_the_invocation(emulator, make_schedule, net):
    when = soon()
    missing = "arn:aws:iam::123456789012:role/nobody"
    make_schedule("ttl", at(when), "createTags", {"Resources": [net["vpc"]], "Tags": [{"Key": "k", "Value": "v"}]},
                  role=missing, retry={"MaximumRetryAttempts": 0})
    assert run(emulator, when) == [invoked("ttl", "CreateTags", f"the execution role {missing} does not exist")]


# ---------------------------------------------------------------- failures and the retry policy
def test_a_failing_target_is_retried_on_a_later_run(emulator, ec2, scheduler, make_schedule, net):
    eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=net["a"], AllocationId=eip)["NatGateway"]["NatGatewayId"]
    when = soon()
    make_schedule("release", at(when), "releaseAddress", {"AllocationId": eip}, ActionAfterCompletion="DELETE",
                  retry={"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600})
    held = "AuthFailure: You do not have permission to access the specified resource."
    assert run(emulator, when) == [invoked("release", "ReleaseAddress", held)]  # the NAT gateway holds it
    assert run(emulator, when + datetime.timedelta(minutes=1)) == [invoked("release", "ReleaseAddress", held)]
    assert names(scheduler) == ["release"]  # not deleted while it may still be retried
    ec2.delete_nat_gateway(NatGatewayId=nat)
    assert run(emulator, when + datetime.timedelta(minutes=2)) == [invoked("release", "ReleaseAddress")]
    assert ec2.describe_addresses()["Addresses"] == []
    assert names(scheduler) == []
    assert run(emulator, when + datetime.timedelta(minutes=3)) == []


@pytest.mark.parametrize("after", ["DELETE", "NONE"])
def test_a_failing_target_gives_up_after_its_retry_attempts(emulator, scheduler, make_schedule, after):
    when = soon()
    make_schedule("gone", at(when), "deleteNatGateway", {"NatGatewayId": "nat-0123456789abcdef0"},
                  ActionAfterCompletion=after, retry={"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 86400})
    failed = invoked("gone", "DeleteNatGateway", "NatGatewayNotFound: The Nat Gateway nat-0123456789abcdef0 was not found")
    for minutes in (0, 1, 2):  # the first attempt and two retries
        assert run(emulator, when + datetime.timedelta(minutes=minutes)) == [failed]
    assert run(emulator, when + datetime.timedelta(minutes=3)) == []
    # Given up, it has made its last invocation: DELETE deletes it too.
    assert names(scheduler) == ([] if after == "DELETE" else ["gone"])


def test_a_failing_target_gives_up_past_its_maximum_event_age(emulator, make_schedule, net):
    emulator.fault(action="CreateTags", code="InternalError", count=5)
    when = soon()
    make_schedule("old", at(when), "createTags", {"Resources": [net["vpc"]], "Tags": [{"Key": "k", "Value": "v"}]},
                  retry={"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 60})
    failed = invoked("old", "CreateTags", "InternalError: An internal error has occurred.")
    assert run(emulator, when) == [failed]
    assert run(emulator, when + datetime.timedelta(seconds=60)) == [failed]  # the age counts from the scheduled time
    assert run(emulator, when + datetime.timedelta(seconds=61)) == []
    assert emulator.calls()["CreateTags"] == 2


def test_targets_scheduler_does_not_run(emulator, scheduler, role, make_schedule, net):
    when = soon()
    make_schedule("read", at(when), "describeVpcs", {}, retry={"MaximumRetryAttempts": 0})
    make_schedule("pascal", at(when), "CreateTags", {"Resources": [net["vpc"]], "Tags": []},
                  retry={"MaximumRetryAttempts": 0})
    make_schedule("junk", at(when), "createTags", {"Resource": net["vpc"]}, retry={"MaximumRetryAttempts": 0})
    scheduler.create_schedule(Name="templated", ScheduleExpression=at(when), FlexibleTimeWindow={"Mode": "OFF"},
                              Target={"Arn": "arn:aws:sqs:us-east-1:123456789012:queue", "RoleArn": role,
                                      "RetryPolicy": {"MaximumRetryAttempts": 0}})
    made = {i["schedule"]: i for i in run(emulator, when)}
    assert made["templated"]["action"] == "SendMessage" and "universal" in made["templated"]["error"]
    assert "read-only" in made["read"]["error"] and made["read"]["action"] == "DescribeVpcs"
    assert "camelCase" in made["pascal"]["error"]
    assert made["junk"]["error"].startswith("ValidationException: Parameter validation failed")
    assert "DescribeVpcs" not in emulator.calls()


# ---------------------------------------------------------------- time zones
def test_one_time_schedule_in_its_time_zone(emulator, make_schedule, net):
    when = soon()
    make_schedule("tokyo", at(when, "Asia/Tokyo"), "createTags",
                  {"Resources": [net["vpc"]], "Tags": [{"Key": "k", "Value": "v"}]},
                  ScheduleExpressionTimezone="Asia/Tokyo")
    # The same wall-clock time read as UTC would be nine hours early.
    assert run(emulator, when - datetime.timedelta(seconds=1)) == []
    assert run(emulator, when) == [invoked("tokyo", "CreateTags")]


def test_cron_follows_daylight_saving_time(emulator, make_schedule, net):
    tags = {"Resources": [net["vpc"]], "Tags": [{"Key": "k", "Value": "v"}]}
    ny = ZoneInfo("America/New_York")
    # 2030-03-10 02:30 does not exist in New York (clocks go 02:00 -> 03:00): that run is skipped.
    make_schedule("spring", "cron(30 2 * * ? *)", "createTags", tags, ScheduleExpressionTimezone="America/New_York",
                  StartDate=datetime.datetime(2030, 3, 9, tzinfo=UTC), EndDate=datetime.datetime(2030, 3, 12, tzinfo=UTC))
    assert len(run(emulator, datetime.datetime(2030, 3, 9, 7, 30, tzinfo=UTC))) == 1  # 02:30 EST
    assert run(emulator, datetime.datetime(2030, 3, 11, 6, 29, tzinfo=UTC)) == []
    assert len(run(emulator, datetime.datetime(2030, 3, 11, 6, 30, tzinfo=UTC))) == 1  # 02:30 EDT
    # 2030-11-03 01:30 happens twice in New York (clocks go 02:00 -> 01:00): it runs once, the first time.
    make_schedule("autumn", "cron(30 1 * * ? *)", "createTags", tags, ScheduleExpressionTimezone="America/New_York",
                  StartDate=datetime.datetime(2030, 11, 3, tzinfo=UTC), EndDate=datetime.datetime(2030, 11, 4, tzinfo=UTC))
    first = datetime.datetime(2030, 11, 3, 1, 30, tzinfo=ny)
    assert first.astimezone(UTC) == datetime.datetime(2030, 11, 3, 5, 30, tzinfo=UTC)
    assert len(run(emulator, datetime.datetime(2030, 11, 3, 5, 30, tzinfo=UTC))) == 1
    assert run(emulator, datetime.datetime(2030, 11, 3, 23, 0, tzinfo=UTC)) == []


# ---------------------------------------------------------------- the control API
def test_invocations_are_listed_until_reset(emulator, make_schedule, net):
    when = soon()
    make_schedule("a", at(when), "createTags", {"Resources": [net["vpc"]], "Tags": [{"Key": "k", "Value": "v"}]})
    make_schedule("b", at(when + datetime.timedelta(minutes=1)), "createTags",
                  {"Resources": [net["vpc"]], "Tags": [{"Key": "k", "Value": "v"}]})
    assert emulator.control("/_emulator/scheduler/invocations") == (200, [])
    run(emulator, when)
    run(emulator, when + datetime.timedelta(minutes=1))
    assert emulator.control("/_emulator/scheduler/invocations") == (
        200, [invoked("a", "CreateTags"), invoked("b", "CreateTags")])
    assert emulator.control("/_emulator/reset", {})[0] == 200
    assert emulator.control("/_emulator/scheduler/invocations") == (200, [])


@pytest.mark.parametrize("bad", [{}, {"until": "tomorrow"}, {"until": "2030-01-01T00:00:00"}, {"until": 5},
                                 {"until": "2030-01-01T00:00:00Z", "dry": True}, []])
def test_run_refuses_a_bad_body(emulator, bad):
    status, body = emulator.control("/_emulator/scheduler/run", bad)
    assert status == 400 and body["error"], body


def test_run_accepts_an_offset(emulator, make_schedule, net):
    when = soon()
    make_schedule("a", at(when), "createTags", {"Resources": [net["vpc"]], "Tags": [{"Key": "k", "Value": "v"}]})
    status, body = emulator.control("/_emulator/scheduler/run", {"until": when.astimezone(ZoneInfo("Asia/Tokyo")).isoformat()})
    assert status == 200 and len(body) == 1, body


@pytest.mark.parametrize("expression, tz", [
    ("cron(0 12 * * * *)", None),  # both day fields given
    ("cron(0 12 * *)", None),
    ("rate(0 minutes)", None),
    ("rate(5 weeks)", None),
    ("at(2030-01-01 10:00:00)", None),
    ("every day", None),
    ("at(2030-01-01T10:00:00)", "Mars/Olympus"),
])
def test_create_schedule_refuses_what_cannot_run(scheduler, role, expression, tz):
    extra = {"ScheduleExpressionTimezone": tz} if tz else {}
    expect("ValidationException", scheduler.create_schedule, Name="bad", ScheduleExpression=expression,
           FlexibleTimeWindow={"Mode": "OFF"}, Target={"Arn": "arn:aws:scheduler:::aws-sdk:ec2:createTags", "RoleArn": role},
           **extra)


def test_realtime_runs_due_schedules_by_itself(emulator, ec2, make_schedule):
    assert emulator.control("/_emulator/config")[1]["scheduler_realtime"] is False  # the suite's start-up value
    emulator.configure(scheduler_realtime=True)
    eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    make_schedule("now", at(datetime.datetime.now(UTC) + datetime.timedelta(seconds=1)), "releaseAddress",
                  {"AllocationId": eip})
    for _ in range(50):
        if emulator.control("/_emulator/scheduler/invocations")[1]:
            break
        time.sleep(0.1)
    assert emulator.control("/_emulator/scheduler/invocations")[1] == [invoked("now", "ReleaseAddress")]
    assert ec2.describe_addresses()["Addresses"] == []


# ---------------------------------------------------------------- schedule groups
def test_schedule_groups_answer_as_aws_for_missing_and_existing_groups(scheduler, role, net):
    """CreateSchedule in a missing group and DeleteScheduleGroup of one are AWS's
    ResourceNotFoundException (stock moto: 500); a second CreateScheduleGroup is
    ConflictException and keeps the first group's schedules (stock moto replaces the group)."""
    target = {"Arn": "arn:aws:scheduler:::aws-sdk:ec2:deleteNatGateway", "RoleArn": role,
              "Input": json.dumps({"NatGatewayId": "nat-0"})}
    expect("ResourceNotFoundException", scheduler.create_schedule, Name="x", GroupName="nope",
           ScheduleExpression=at(soon()), Target=target, FlexibleTimeWindow={"Mode": "OFF"})
    expect("ResourceNotFoundException", scheduler.delete_schedule_group, Name="nope")
    scheduler.create_schedule_group(Name="vpnctl-lab", Tags=[{"Key": "vpnctl:deployment", "Value": "lab"}])
    scheduler.create_schedule(Name="x", GroupName="vpnctl-lab", ScheduleExpression=at(soon()),
                              Target=target, FlexibleTimeWindow={"Mode": "OFF"})
    expect("ConflictException", scheduler.create_schedule_group, Name="vpnctl-lab")
    assert [s["Name"] for s in scheduler.list_schedules(GroupName="vpnctl-lab")["Schedules"]] == ["x"]
    # Deleting the group deletes its schedules.
    scheduler.delete_schedule_group(Name="vpnctl-lab")
    assert scheduler.list_schedules(GroupName="vpnctl-lab")["Schedules"] == []
    expect("ResourceNotFoundException", scheduler.delete_schedule_group, Name="vpnctl-lab")


# ---------------------------------------------------------------- Step Functions
def wait_for(sfn, execution, seconds=20):
    end = time.time() + seconds
    while time.time() < end:
        d = sfn.describe_execution(executionArn=execution)
        if d["status"] != "RUNNING":
            return d
        time.sleep(0.2)
    raise AssertionError(f"{execution} still running after {seconds} s")


def test_a_schedule_starts_a_state_machine_whose_sdk_tasks_call_the_emulator(emulator, ec2, iam, make_schedule, association):
    """The universal target sfn:startExecution runs a state machine (moto's ASL interpreter); its
    AWS SDK integrations reach the emulator's own services; an execution started without a name
    gets a unique one, as on AWS, so the schedule can start it again."""
    ep, assoc = association
    sfn = emulator.client("stepfunctions")
    states_role = iam.create_role(RoleName="vpnctl-states", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    definition = {"StartAt": "Find", "States": {
        "Find": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:ec2:describeClientVpnTargetNetworks",
                 "Parameters": {"ClientVpnEndpointId.$": "$.endpoint"},
                 "ResultSelector": {"networks.$": "$.ClientVpnTargetNetworks"}, "ResultPath": "$.seen", "Next": "Each"},
        "Each": {"Type": "Map", "ItemsPath": "$.seen.networks",
                 "ItemSelector": {"endpoint.$": "$.endpoint", "id.$": "$$.Map.Item.Value.AssociationId"},
                 "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Go", "States": {
                     "Go": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:ec2:disassociateClientVpnTargetNetwork",
                            "Parameters": {"ClientVpnEndpointId.$": "$.endpoint", "AssociationId.$": "$.id"}, "End": True}}},
                 "End": True}}}
    machine = sfn.create_state_machine(name="sleep", definition=json.dumps(definition), roleArn=states_role)["stateMachineArn"]
    when = soon()
    make_schedule("hours-sleep", "cron(0/10 * * * ? *)", "startExecution",
                  {"stateMachineArn": machine, "input": json.dumps({"endpoint": ep})}, service="sfn")
    made = run(emulator, when)
    assert made and all(i["ok"] and i["action"] == "StartExecution" for i in made), made
    runs = sfn.list_executions(stateMachineArn=machine)["executions"]
    assert len(runs) == len(made) and len({r["name"] for r in runs}) == len(runs), runs
    for r in runs:
        assert wait_for(sfn, r["executionArn"])["status"] == "SUCCEEDED"
    assert associations(ec2, ep) == []
