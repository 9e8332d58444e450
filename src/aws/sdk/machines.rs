//! Step Functions: the deployment's state machines (working hours, idle sleep), called from
//! the `Deadlines` implementation.

use super::*;

fn sfn_tags(tags: &Tags) -> Vec<sfn::types::Tag> {
    tags.iter()
        .map(|(k, v)| sfn::types::Tag::builder().key(k).value(v).build())
        .collect()
}

impl AwsCloud {
    pub(super) async fn find_state_machines(
        &self,
        names: &[String],
    ) -> CloudResult<Vec<(String, String)>> {
        let listed: Vec<sfn::types::StateMachineListItem> = self
            .sfn
            .list_state_machines()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify("ListStateMachines", "state machines", e))?;
        Ok(listed
            .into_iter()
            .filter(|m| names.iter().any(|n| n == m.name()))
            .map(|m| (m.name().to_string(), m.state_machine_arn().to_string()))
            .collect())
    }

    pub(super) async fn put_machine(
        &self,
        name: &str,
        definition: &str,
        role: &str,
        express: bool,
        tags: &Tags,
    ) -> CloudResult<String> {
        if let Some((_, arn)) = self
            .find_state_machines(&[name.to_string()])
            .await?
            .into_iter()
            .next()
        {
            self.sfn_once
                .update_state_machine()
                .state_machine_arn(&arn)
                .definition(definition)
                .role_arn(role)
                .send()
                .await
                .map_err(|e| classify("UpdateStateMachine", name, e))?;
            return Ok(arn);
        }
        let out = self
            .sfn_once
            .create_state_machine()
            .name(name)
            .definition(definition)
            .role_arn(role)
            .r#type(if express {
                sfn::types::StateMachineType::Express
            } else {
                sfn::types::StateMachineType::Standard
            })
            .set_tags(Some(sfn_tags(tags)))
            .send()
            .await
            .map_err(|e| classify("CreateStateMachine", name, e))?;
        Ok(out.state_machine_arn().to_string())
    }

    pub(super) async fn delete_machine(&self, arn: &str) -> CloudResult<()> {
        self.sfn_once
            .delete_state_machine()
            .state_machine_arn(arn)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("DeleteStateMachine", arn, e))
    }
}
