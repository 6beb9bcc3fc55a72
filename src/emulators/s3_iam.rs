//! `s3-iam`: moto with IAM enforcement on. With enforcement still off: create the bucket, one
//! IAM user per [`S3User`] with the guide's policy (or the guide's policy minus one action) and
//! an access key each; then `POST /moto-api/reset-auth` with body `0` turns enforcement on.
use std::collections::BTreeMap;

use super::state::UserKeys;
use super::{BUCKET, S3User};

/// moto routes a request to a service by the credential scope of its Authorization header. While
/// enforcement is off the signature is not checked, so this scope alone reaches IAM.
const IAM_SCOPE: &str = "AWS4-HMAC-SHA256 Credential=lsprobe-setup/20250101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0";

/// The guide's policy for bucket `lsprobe`, without `missing` (one action) if given.
pub fn policy(missing: Option<&str>) -> serde_json::Value {
    let keep = |actions: &[&str]| -> Vec<String> {
        actions
            .iter()
            .filter(|a| Some(**a) != missing)
            .map(|a| a.to_string())
            .collect()
    };
    let mut statements = Vec::new();
    let list = keep(&["s3:ListBucket"]);
    if !list.is_empty() {
        statements.push(serde_json::json!({
            "Effect": "Allow",
            "Action": list,
            "Resource": [format!("arn:aws:s3:::{BUCKET}")],
        }));
    }
    let objects = keep(&["s3:PutObject", "s3:GetObject", "s3:DeleteObject"]);
    statements.push(serde_json::json!({
        "Effect": "Allow",
        "Action": objects,
        "Resource": [format!("arn:aws:s3:::{BUCKET}/*")],
    }));
    serde_json::json!({ "Version": "2012-10-17", "Statement": statements })
}

async fn iam(
    client: &reqwest::Client,
    base: &str,
    params: &[(&str, &str)],
) -> Result<String, String> {
    let action = params[0].1;
    let mut form: Vec<(&str, &str)> = params.to_vec();
    form.push(("Version", "2010-05-08"));
    let resp = client
        .post(format!("{base}/"))
        .header("Authorization", IAM_SCOPE)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&form)
                .finish(),
        )
        .send()
        .await
        .map_err(|e| format!("IAM {action}: {e}"))?;
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    if status.is_success() {
        Ok(body)
    } else {
        Err(format!("IAM {action} answered {status}: {body}"))
    }
}

fn xml_value<'a>(body: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find(&format!("</{tag}>"))? + start;
    Some(&body[start..end])
}

/// Creates the bucket and users on moto at `base`, then turns IAM enforcement on.
pub async fn prepare(
    client: &reqwest::Client,
    base: &str,
) -> Result<BTreeMap<String, UserKeys>, String> {
    super::ready::create_s3_bucket(client, base).await?;
    let mut users = BTreeMap::new();
    for user in S3User::ALL {
        let name = user.iam_name();
        iam(
            client,
            base,
            &[("Action", "CreateUser"), ("UserName", &name)],
        )
        .await?;
        let doc = policy(user.missing_action()).to_string();
        iam(
            client,
            base,
            &[
                ("Action", "PutUserPolicy"),
                ("UserName", &name),
                ("PolicyName", "lsprobe-storage"),
                ("PolicyDocument", &doc),
            ],
        )
        .await?;
        let body = iam(
            client,
            base,
            &[("Action", "CreateAccessKey"), ("UserName", &name)],
        )
        .await?;
        let (Some(id), Some(secret)) = (
            xml_value(&body, "AccessKeyId"),
            xml_value(&body, "SecretAccessKey"),
        ) else {
            return Err(format!(
                "IAM CreateAccessKey for {name}: no key in the answer: {body}"
            ));
        };
        users.insert(
            user.name().to_string(),
            UserKeys {
                access_key_id: id.to_string(),
                secret_access_key: secret.to_string(),
            },
        );
    }
    let r = client
        .post(format!("{base}/moto-api/reset-auth"))
        .body("0")
        .send()
        .await
        .map_err(|e| format!("turn IAM enforcement on: {e}"))?;
    if !r.status().is_success() {
        return Err(format!(
            "turn IAM enforcement on: POST /moto-api/reset-auth answered {}",
            r.status()
        ));
    }
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_policy_is_the_guides() {
        let p = policy(None);
        assert_eq!(
            p["Statement"][0]["Action"],
            serde_json::json!(["s3:ListBucket"])
        );
        assert_eq!(
            p["Statement"][0]["Resource"],
            serde_json::json!(["arn:aws:s3:::lsprobe"])
        );
        assert_eq!(
            p["Statement"][1]["Action"],
            serde_json::json!(["s3:PutObject", "s3:GetObject", "s3:DeleteObject"])
        );
        assert_eq!(
            p["Statement"][1]["Resource"],
            serde_json::json!(["arn:aws:s3:::lsprobe/*"])
        );
    }

    #[test]
    fn limited_policies_lack_exactly_one_action() {
        let no_list = policy(Some("s3:ListBucket"));
        assert_eq!(no_list["Statement"].as_array().unwrap().len(), 1);
        let no_put = policy(Some("s3:PutObject"));
        assert_eq!(
            no_put["Statement"][1]["Action"],
            serde_json::json!(["s3:GetObject", "s3:DeleteObject"])
        );
    }

    #[test]
    fn reads_keys_from_create_access_key_xml() {
        let body = "<A><AccessKeyId>AKIA1</AccessKeyId><SecretAccessKey>s/x</SecretAccessKey></A>";
        assert_eq!(xml_value(body, "AccessKeyId"), Some("AKIA1"));
        assert_eq!(xml_value(body, "SecretAccessKey"), Some("s/x"));
        assert_eq!(xml_value(body, "Nope"), None);
    }
}
