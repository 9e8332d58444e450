//! `Deadlines`: EventBridge Scheduler schedules in the deployment's schedule group, and the IAM
//! role they run as.

use super::*;
use aws_sdk_iam as iam;
use aws_sdk_scheduler as scheduler;
use aws_smithy_types::error::operation::BuildError;

/// The retry policy AWS gives a target that names none (API reference, RetryPolicy).
const DEFAULT_RETRIES: u32 = 185;
const DEFAULT_MAX_AGE_SECS: u32 = 86_400;

const ROLE_DESCRIPTION: &str =
    "vpnctl: EventBridge Scheduler runs the deployment's deadlines as this role";

/// A request the SDK refused to build (a required field missing): never sent, so no AWS call
/// to name (`aws::to_error` words it so), and not worth a retry.
fn unbuilt(action: &str, e: BuildError) -> CloudError {
    CloudError::new(Kind::Api, format!("{action}: {e}"))
}

fn scheduler_tags(action: &str, tags: &Tags) -> CloudResult<Vec<scheduler::types::Tag>> {
    tags.iter()
        .map(|(k, v)| {
            scheduler::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| unbuilt(action, e))
        })
        .collect()
}

fn iam_tags(tags: &Tags) -> CloudResult<Vec<iam::types::Tag>> {
    tags.iter()
        .map(|(k, v)| {
            iam::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| unbuilt("CreateRole", e))
        })
        .collect()
}

/// A schedule as GetSchedule answers it. A target that is not a universal `aws-sdk` one is
/// kept, with its whole ARN as the action (the plan sees it is not one vpnctl writes).
fn schedule_of(
    name: &str,
    out: &scheduler::operation::get_schedule::GetScheduleOutput,
) -> Schedule {
    use scheduler::types::{ActionAfterCompletion, ScheduleState};
    let target = out.target();
    let arn = target.map(|t| t.arn()).unwrap_or_default();
    let retry = target.and_then(|t| t.retry_policy());
    let count =
        |v: Option<i32>, default: u32| v.and_then(|n| u32::try_from(n).ok()).unwrap_or(default);
    Schedule {
        name: out.name().unwrap_or(name).to_string(),
        expression: out.schedule_expression().unwrap_or_default().to_string(),
        // No time zone is UTC: the emulator (moto) answers "UTC" for a schedule written with
        // none, which must read back as it was written.
        timezone: out
            .schedule_expression_timezone()
            .filter(|z| !z.is_empty() && *z != "UTC")
            .map(str::to_string),
        action: Schedule::action_of(arn).unwrap_or(arn).to_string(),
        input: target
            .and_then(|t| t.input())
            .unwrap_or_default()
            .to_string(),
        role_arn: target.map(|t| t.role_arn()).unwrap_or_default().to_string(),
        enabled: out.state() == Some(&ScheduleState::Enabled),
        delete_after: out.action_after_completion() == Some(&ActionAfterCompletion::Delete),
        retries: count(
            retry.and_then(|r| r.maximum_retry_attempts()),
            DEFAULT_RETRIES,
        ),
        max_age_secs: count(
            retry.and_then(|r| r.maximum_event_age_in_seconds()),
            DEFAULT_MAX_AGE_SECS,
        ),
    }
}

impl AwsCloud {
    /// The role's ARN (GetRole); NotFound when there is no such role.
    async fn role_arn(&self, name: &str) -> CloudResult<String> {
        let out = self
            .iam
            .get_role()
            .role_name(name)
            .send()
            .await
            .map_err(|e| classify("GetRole", name, e))?;
        required(out.role().map(|r| r.arn()), "GetRole", "Role.Arn")
    }
}

impl Deadlines for AwsCloud {
    async fn schedules(&self, group: &str) -> CloudResult<Vec<Schedule>> {
        // AWS answers ResourceNotFoundException for a group that does not exist; the emulator
        // (moto 5.2.5) answers 200 with no schedules. Both are "no schedules", and no 5xx is
        // taken for one.
        let listed = match self
            .scheduler
            .list_schedules()
            .group_name(group)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
        {
            Ok(l) => l,
            Err(e) => match classify("ListSchedules", group, e) {
                e if e.is(Kind::NotFound) => return Ok(vec![]),
                other => return Err(other),
            },
        };
        let mut out = Vec::new();
        for s in listed {
            let Some(name) = s.name() else {
                continue;
            };
            let got = self
                .scheduler
                .get_schedule()
                .name(name)
                .group_name(group)
                .send()
                .await;
            match got {
                Ok(g) => out.push(schedule_of(name, &g)),
                Err(e) => match classify("GetSchedule", name, e) {
                    // Gone since the listing (a one-time schedule deletes itself after its
                    // run): not there.
                    e if e.is(Kind::NotFound) => continue,
                    other => return Err(other),
                },
            }
        }
        Ok(out)
    }

    async fn create_schedule_group(&self, group: &str, tags: &Tags) -> CloudResult<()> {
        const ACTION: &str = "CreateScheduleGroup";
        match self
            .scheduler_once
            .create_schedule_group()
            .name(group)
            .set_tags(Some(scheduler_tags(ACTION, tags)?))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match classify(ACTION, group, e) {
                // It exists already: left as it is.
                e if e.code() == Some("ConflictException") => Ok(()),
                other => Err(other),
            },
        }
    }

    async fn put_schedule(&self, group: &str, s: &Schedule) -> CloudResult<()> {
        use scheduler::types::{
            ActionAfterCompletion, FlexibleTimeWindow, FlexibleTimeWindowMode, RetryPolicy,
            ScheduleState, Target,
        };
        let target = Target::builder()
            .arn(s.target_arn())
            .role_arn(&s.role_arn)
            .set_input(Some(s.input.clone()).filter(|i| !i.is_empty()))
            .retry_policy(
                RetryPolicy::builder()
                    .maximum_retry_attempts(i32::try_from(s.retries).unwrap_or(i32::MAX))
                    .maximum_event_age_in_seconds(i32::try_from(s.max_age_secs).unwrap_or(i32::MAX))
                    .build(),
            )
            .build()
            .map_err(|e| unbuilt("CreateSchedule", e))?;
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(|e| unbuilt("CreateSchedule", e))?;
        let state = if s.enabled {
            ScheduleState::Enabled
        } else {
            ScheduleState::Disabled
        };
        let after = if s.delete_after {
            ActionAfterCompletion::Delete
        } else {
            ActionAfterCompletion::None
        };
        // The whole definition, for CreateSchedule and UpdateSchedule alike (UpdateSchedule
        // replaces every field: one left out goes back to its default).
        macro_rules! send {
            ($req:expr, $action:literal) => {
                $req.name(&s.name)
                    .group_name(group)
                    .schedule_expression(&s.expression)
                    .set_schedule_expression_timezone(s.timezone.clone())
                    .flexible_time_window(window.clone())
                    .target(target.clone())
                    .state(state.clone())
                    .action_after_completion(after.clone())
                    .description("vpnctl deadline")
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| classify($action, &s.name, e))
            };
        }
        match send!(self.scheduler_once.create_schedule(), "CreateSchedule") {
            Err(e) if e.code() == Some("ConflictException") => {
                send!(self.scheduler_once.update_schedule(), "UpdateSchedule")
            }
            other => other,
        }
    }

    async fn delete_schedule(&self, group: &str, name: &str) -> CloudResult<()> {
        self.scheduler_once
            .delete_schedule()
            .name(name)
            .group_name(group)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("DeleteSchedule", name, e))
    }

    async fn delete_schedule_group(&self, group: &str) -> CloudResult<()> {
        self.scheduler_once
            .delete_schedule_group()
            .name(group)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("DeleteScheduleGroup", group, e))
    }

    async fn role(&self, name: &str) -> CloudResult<Option<String>> {
        match self.role_arn(name).await {
            Ok(arn) => Ok(Some(arn)),
            Err(e) if e.is(Kind::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn put_role(
        &self,
        name: &str,
        trust: &str,
        policy_name: &str,
        policy: &str,
        tags: &Tags,
    ) -> CloudResult<String> {
        let created = self
            .iam_once
            .create_role()
            .role_name(name)
            .assume_role_policy_document(trust)
            .description(ROLE_DESCRIPTION)
            .set_tags(Some(iam_tags(tags)?))
            .send()
            .await;
        let arn = match created {
            Ok(out) => required(out.role().map(|r| r.arn()), "CreateRole", "Role.Arn")?,
            Err(e) => match classify("CreateRole", name, e) {
                // The role exists: give it this trust policy, and read its ARN.
                e if e.code() == Some("EntityAlreadyExists") => {
                    self.iam_once
                        .update_assume_role_policy()
                        .role_name(name)
                        .policy_document(trust)
                        .send()
                        .await
                        .map_err(|e| classify("UpdateAssumeRolePolicy", name, e))?;
                    self.role_arn(name).await?
                }
                other => return Err(other),
            },
        };
        self.iam_once
            .put_role_policy()
            .role_name(name)
            .policy_name(policy_name)
            .policy_document(policy)
            .send()
            .await
            .map_err(|e| classify("PutRolePolicy", name, e))?;
        Ok(arn)
    }

    async fn delete_role(&self, name: &str) -> CloudResult<()> {
        // IAM refuses to delete a role that still has policies (DeleteConflict): inline ones
        // are deleted, managed ones detached, first.
        let inline = self
            .iam
            .list_role_policies()
            .role_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify("ListRolePolicies", name, e))?;
        for p in inline {
            self.iam_once
                .delete_role_policy()
                .role_name(name)
                .policy_name(&p)
                .send()
                .await
                .map_err(|e| classify("DeleteRolePolicy", name, e))?;
        }
        let attached = self
            .iam
            .list_attached_role_policies()
            .role_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify("ListAttachedRolePolicies", name, e))?;
        for p in attached {
            let Some(arn) = p.policy_arn() else {
                continue;
            };
            self.iam_once
                .detach_role_policy()
                .role_name(name)
                .policy_arn(arn)
                .send()
                .await
                .map_err(|e| classify("DetachRolePolicy", name, e))?;
        }
        self.iam_once
            .delete_role()
            .role_name(name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("DeleteRole", name, e))
    }

    async fn state_machines(&self, names: &[String]) -> CloudResult<Vec<(String, String)>> {
        self.find_state_machines(names).await
    }

    async fn put_state_machine(
        &self,
        name: &str,
        definition: &str,
        role: &str,
        express: bool,
        tags: &Tags,
    ) -> CloudResult<String> {
        self.put_machine(name, definition, role, express, tags)
            .await
    }

    async fn delete_state_machine(&self, arn: &str) -> CloudResult<()> {
        self.delete_machine(arn).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The adapter against the emulator (`tests/emulator/run --port P`, then
    /// `AWS_ENDPOINT_URL=http://127.0.0.1:P cargo test --lib deadlines -- --ignored`).
    #[tokio::test]
    #[ignore = "needs the emulator at AWS_ENDPOINT_URL"]
    async fn the_adapter_against_the_emulator() {
        let url = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL");
        let config = aws_config::SdkConfig::builder()
            .endpoint_url(url)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(
                    aws_credential_types::Credentials::new("test", "test", None, None, "test"),
                ),
            )
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let cloud = AwsCloud::new(&config);
        let group = "vpnctl-adapter-test";
        let role = "vpnctl-adapter-test";
        assert_eq!(cloud.schedules(group).await.expect("no group"), vec![]);
        let tags = tags_for("adapter-test", "adapter-test");
        cloud
            .create_schedule_group(group, &tags)
            .await
            .expect("group");
        cloud
            .create_schedule_group(group, &tags)
            .await
            .expect("group again");
        assert_eq!(cloud.role(role).await.expect("role"), None);
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"scheduler.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:DeleteNatGateway","Resource":"*"}]}"#;
        let arn = cloud
            .put_role(role, trust, "deadlines", policy, &tags)
            .await
            .expect("create role");
        assert_eq!(
            cloud
                .put_role(role, trust, "deadlines", policy, &tags)
                .await
                .expect("update role"),
            arn
        );
        assert_eq!(cloud.role(role).await.expect("role"), Some(arn.clone()));
        let mut s = Schedule {
            name: "nat".into(),
            expression: Schedule::at_expression(4_102_444_800),
            timezone: None,
            action: "ec2:deleteNatGateway".into(),
            input: r#"{"NatGatewayId":"nat-1"}"#.into(),
            role_arn: arn,
            enabled: true,
            delete_after: true,
            retries: 3,
            max_age_secs: 3600,
        };
        cloud.put_schedule(group, &s).await.expect("create");
        assert_eq!(cloud.schedules(group).await.expect("read"), vec![s.clone()]);
        s.enabled = false;
        s.delete_after = false;
        s.timezone = Some("Europe/Paris".into());
        cloud.put_schedule(group, &s).await.expect("update");
        assert_eq!(cloud.schedules(group).await.expect("read"), vec![s.clone()]);
        cloud.delete_schedule(group, "nat").await.expect("delete");
        let gone = cloud.delete_schedule(group, "nat").await.expect_err("gone");
        assert!(gone.is(Kind::NotFound), "{gone:?}");
        cloud
            .delete_schedule_group(group)
            .await
            .expect("delete group");
        cloud.delete_role(role).await.expect("delete role");
        let gone = cloud.delete_role(role).await.expect_err("gone");
        assert!(gone.is(Kind::NotFound), "{gone:?}");
        assert_eq!(gone.code(), Some("NoSuchEntity"));
    }
}
