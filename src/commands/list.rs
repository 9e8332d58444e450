//! `vpnctl list`: the deployments this directory knows (state files, config tables, the PKI's
//! record) and, with AWS access, those tagged in the region, each with its state and what it
//! bills per hour. Read-only.

use super::Ctx;
use crate::aws::{exec, price};
use crate::cli::ListDeploymentsArgs;
use crate::error::Result;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One deployment in the list.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Row {
    pub name: String,
    /// Where it is known from: `state`, `config`, `pki`, `aws`.
    pub known_from: Vec<&'static str>,
    /// The region recorded in its state file, else the region asked.
    pub region: Option<String>,
    /// Recorded in the state file, or found by tags.
    pub endpoint_id: Option<String>,
    /// The AWS profile its config table names (another account is not asked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// `up`, `asleep (no associations)`, `no endpoint`, `absent`, or `not asked`.
    pub state: String,
    /// Dollars per hour, when AWS was asked.
    #[serde(serialize_with = "crate::json::opt_usd")]
    pub per_hour: Option<f64>,
    pub connections: Option<usize>,
}

/// The deployments this directory knows, without AWS: every state file beside each PKI
/// directory in play, every config table, every PKI's recorded name. Pure but for reading.
pub fn local(ctx: &Ctx) -> BTreeMap<String, Row> {
    let mut dirs: Vec<PathBuf> = vec![ctx.pki_dir.clone(), PathBuf::from(super::DEFAULT_PKI_DIR)];
    for name in ctx.config.deployments.keys() {
        if let Some(d) = ctx.config.deployment(name).pki {
            dirs.push(d);
        }
    }
    dirs.dedup();
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    fn note<'a>(
        rows: &'a mut BTreeMap<String, Row>,
        name: &str,
        from: &'static str,
    ) -> &'a mut Row {
        let row = rows.entry(name.to_string()).or_insert_with(|| Row {
            name: name.to_string(),
            state: "not asked".into(),
            ..Default::default()
        });
        if !row.known_from.contains(&from) {
            row.known_from.push(from);
        }
        row
    }
    for dir in &dirs {
        for name in crate::state::list(dir) {
            let st = crate::state::load(dir, &name).unwrap_or_default();
            let row = note(&mut rows, &name, "state");
            row.region = row.region.take().or(st.region);
            row.endpoint_id = row.endpoint_id.take().or(st.endpoint_id);
        }
        if crate::pki::store::exists(dir)
            && let Ok(p) = crate::pki::Pki::open(dir)
        {
            note(&mut rows, &p.meta.deployment, "pki");
        }
    }
    for name in ctx.config.deployments.keys() {
        let table = ctx.config.deployment(name);
        let row = note(&mut rows, name, "config");
        row.region = row.region.take().or(table.region);
        row.profile = table.profile;
    }
    rows
}

pub fn run(ctx: &Ctx, args: &ListDeploymentsArgs) -> Result<()> {
    let mut rows = local(ctx);
    let mut asked: Option<(String, Option<String>)> = None;
    if !args.local {
        let found = super::runtime()?.block_on(async {
            let (cloud, region) = super::connect(ctx, &args.aws).await?;
            let account = cloud.account_id().await.ok();
            let tagged = cloud
                .tagged_deployments()
                .await
                .map_err(crate::aws::to_error)?;
            let mut names: Vec<String> = tagged.iter().cloned().collect();
            // Known here, recorded in this region (or nowhere) and not in another profile's
            // account: ask too, to say "absent".
            let in_use = args
                .aws
                .profile
                .clone()
                .or(ctx.config.deployment(&ctx.deployment).profile);
            for r in rows.values() {
                if r.region.as_deref().is_none_or(|x| x == region)
                    && (r.profile.is_none() || r.profile == in_use)
                    && !names.contains(&r.name)
                {
                    names.push(r.name.clone());
                }
            }
            let mut seen = Vec::new();
            for name in names {
                let o = exec::observe(&cloud, &name, true)
                    .await
                    .map_err(crate::aws::to_error)?;
                seen.push((name, o));
            }
            Ok::<_, crate::Error>((region, account, tagged, seen))
        });
        match found {
            Ok((region, account, tagged, seen)) => {
                let prices = price::for_region(&region, &ctx.config.prices);
                let now = ctx.now.unix_timestamp();
                for (name, o) in seen {
                    let row = rows.entry(name.clone()).or_insert_with(|| Row {
                        name: name.clone(),
                        ..Default::default()
                    });
                    if tagged.contains(&name) {
                        row.known_from.push("aws");
                    }
                    row.region = Some(region.clone());
                    let st = crate::state::load(&ctx.pki_dir, &name).unwrap_or_default();
                    let bill = super::status::charges(&o, &prices, &st.associated_at, now);
                    row.per_hour = Some(price::cents_round(bill.iter().map(|c| c.per_hour).sum()));
                    row.state = super::status::state_of(&o).to_string();
                    if let Some(e) = o.endpoints.iter().find_map(|v| v.endpoint.as_ref()) {
                        row.endpoint_id = Some(e.id.clone());
                    }
                    row.connections = Some(
                        o.endpoints
                            .iter()
                            .flat_map(|v| &v.connections)
                            .filter(|c| c.state == crate::aws::model::ConnectionState::Active)
                            .count(),
                    );
                }
                asked = Some((region, account));
            }
            Err(e) => ctx.printer.warn(format!(
                "AWS not asked ({e}); listing what this directory knows (--local skips AWS)"
            )),
        }
    }
    let rows: Vec<Row> = rows.into_values().collect();
    let total: f64 = rows.iter().filter_map(|r| r.per_hour).sum();
    if args.json {
        ctx.printer.json(&serde_json::json!({
            "schema": 1,
            "region": asked.as_ref().map(|a| &a.0),
            "account": asked.as_ref().and_then(|a| a.1.as_ref()),
            "deployments": rows,
            "per_hour": asked.as_ref().map(|_| crate::json::Usd(total)),
        }));
        return Ok(());
    }
    match &asked {
        Some((region, account)) => ctx.printer.data(format!(
            "deployments here and in {region}{}:",
            account
                .as_ref()
                .map(|a| format!(" (account {a})"))
                .unwrap_or_default()
        )),
        None => ctx.printer.data("deployments known here (AWS not asked):"),
    }
    if rows.is_empty() {
        ctx.printer
            .data("  none: no state file, config table or PKI here, and nothing tagged");
        ctx.printer
            .info(format!("next: `{}`", ctx.vpnctl("setup --help")));
        return Ok(());
    }
    for line in table(&rows) {
        ctx.printer.data(line);
    }
    if asked.is_some() {
        ctx.printer
            .data(format!("bills now in all: {}/h", price::dollars(total)));
    }
    ctx.printer.info(
        "next: `vpnctl --name NAME status` shows one deployment's resources and what they cost",
    );
    Ok(())
}

/// The human table: one line per deployment, within 100 columns for names up to 20.
pub fn table(rows: &[Row]) -> Vec<String> {
    let mut out = vec![format!(
        "  {:<20} {:<26} {:>10} {:>5}  {}",
        "NAME", "STATE", "BILLS", "USERS", "KNOWN FROM"
    )];
    for r in rows {
        let state = match (&r.state[..], &r.region, &r.profile) {
            ("not asked", _, Some(profile)) => format!("profile {profile}, not asked"),
            ("not asked", Some(region), None) => format!("in {region}, not asked"),
            (s, _, _) => s.to_string(),
        };
        out.push(format!(
            "  {:<20} {:<26} {:>10} {:>5}  {}",
            r.name,
            state,
            r.per_hour
                .map(|p| format!("{}/h", price::dollars(p)))
                .unwrap_or_else(|| "-".into()),
            r.connections
                .map(|c| c.to_string())
                .unwrap_or_else(|| "-".into()),
            r.known_from.join(", ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_fits_100_columns_and_says_what_was_not_asked() {
        let rows = vec![
            Row {
                name: "a-twenty-char-name-x".into(),
                known_from: vec!["state", "config", "pki", "aws"],
                region: Some("ap-southeast-2".into()),
                endpoint_id: None,
                profile: None,
                state: "asleep (no associations)".into(),
                per_hour: Some(12.5),
                connections: Some(12345),
            },
            Row {
                name: "far".into(),
                known_from: vec!["state"],
                region: Some("eu-west-1".into()),
                state: "not asked".into(),
                ..Default::default()
            },
        ];
        let mut rows = rows;
        rows.push(Row {
            name: "prod".into(),
            known_from: vec!["config"],
            profile: Some("prod-admin".into()),
            state: "not asked".into(),
            ..Default::default()
        });
        let t = table(&rows);
        assert!(t.iter().all(|l| l.chars().count() <= 100), "{t:#?}");
        assert!(t[3].contains("profile prod-admin, not asked"), "{}", t[3]);
        assert!(t[1].contains("$12.500/h"), "{}", t[1]);
        assert!(t[2].contains("in eu-west-1, not asked"), "{}", t[2]);
        assert!(t[2].contains(" - "), "{}", t[2]);
    }
}
