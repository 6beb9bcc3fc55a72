//! `lsprobe load` with a limited grant: an Azure SAS token is checked against what the run will
//! do before any request is sent (exit 2 naming the setting, the flag and the fix).
use super::load_setup::{Setup, bad};
use crate::RunError;
use crate::config::{Secret, Sourced};
use crate::load::Bound;
use crate::load::Op;
use crate::load::sas_grant::{RunNeeds, SasGrant};

/// What the run needs from the container, from the validated flags.
pub fn run_needs(setup: &Setup, now: chrono::DateTime<chrono::Utc>) -> RunNeeds {
    let plan = &setup.plan;
    let ops: Vec<Op> = plan
        .mix
        .items()
        .iter()
        .filter(|(_, weight)| *weight > 0)
        .map(|(op, _)| *op)
        .collect();
    let reads = ops.iter().any(|op| matches!(op, Op::Get | Op::Head));
    let ends_by = match plan.bound {
        Bound::Duration(d) => chrono::Duration::from_std(plan.warmup + d)
            .ok()
            .map(|d| now + d),
        Bound::Requests(_) => None,
    };
    RunNeeds {
        ops,
        prepares: reads && setup.existing.is_none(),
        discovers: setup.existing.is_some(),
        ends_by,
    }
}

/// Checks the SAS token against the run: a token that is not a SAS, expired, not yet valid,
/// scoped to one blob, or lacking a permission the run needs is bad input.
pub fn check_sas(sas: &Sourced<Secret>, setup: &Setup) -> Result<(), RunError> {
    let token = sas.value.expose();
    if http::Uri::try_from(format!("/?{token}")).is_err() {
        return Err(bad(format!(
            "the SAS token ({}) holds characters a URL cannot carry: copy the query string \
             exactly as the portal or `az storage container generate-sas` prints it",
            sas.source
        )));
    }
    let now = chrono::Utc::now();
    SasGrant::parse(token)
        .and_then(|grant| grant.check(&run_needs(setup, now), now))
        .map_err(|p| {
            let change = match p.flag {
                Some(flag) => format!(", or change {flag}"),
                None => String::new(),
            };
            bad(format!(
                "the SAS token ({}) cannot run this load: {}. Make a container SAS that lives \
                 longer than the run with the permissions it needs (read r for GET/HEAD, write w \
                 for PUT, create c or w to write the objects it reads, list l for LIST, delete d \
                 for DELETE and for cleanup), e.g. `az storage container generate-sas \
                 --permissions rwdl --expiry <UTC time>`{change}; no request was sent",
                sas.source, p.problem
            ))
        })
}
