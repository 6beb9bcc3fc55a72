//! Azure Blob Storage's answers: network rules (AuthorizationFailure), a permission the SAS or
//! role lacks, Shared Key disabled, a disabled account, the clock.
//!
//! Azure answers a bad signature with `AuthenticationFailed` ("Server failed to authenticate the
//! request"); Azurite answers it with `AuthorizationFailure` and that same message. The message
//! tells the two apart: an `AuthorizationFailure` that says the server failed to authenticate
//! is a refused key (the generic class), any other is Azure's network-rules refusal.
use super::{Cause, xml_text};
use crate::provider::Answer;

/// Azure's message for a request its signature check refused.
const AUTHENTICATION_MESSAGE: &str = "Server failed to authenticate the request";

/// The cause an Azure error answer names, if any.
pub fn diagnose(answer: &Answer, code: Option<&str>) -> Option<Cause> {
    let message = xml_text(&answer.body, "Message").unwrap_or_default();
    let detail = xml_text(&answer.body, "AuthenticationErrorDetail").unwrap_or_default();
    match code? {
        "AuthorizationFailure" if !message.starts_with(AUTHENTICATION_MESSAGE) => {
            Some(Cause::NetworkRules)
        }
        "AuthorizationPermissionMismatch" => Some(Cause::PermissionMismatch),
        "AuthenticationFailed" if detail.starts_with("Request date header") => {
            Some(Cause::ClockSkew)
        }
        "KeyBasedAuthenticationNotPermitted" => Some(Cause::SharedKeyDisabled),
        "AccountIsDisabled" => Some(Cause::AccountDisabled),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::answer;
    use super::*;

    #[test]
    fn network_rules_versus_a_refused_key() {
        let network = answer(
            403,
            &[("x-ms-error-code", "AuthorizationFailure")],
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>AuthorizationFailure</Code>\
             <Message>This request is not authorized to perform this operation.\n\
             RequestId:x\nTime:2026-01-01T00:00:00.0000000Z</Message></Error>",
        );
        assert_eq!(
            diagnose(&network, Some("AuthorizationFailure")),
            Some(Cause::NetworkRules)
        );
        let azurite_key = answer(
            403,
            &[("x-ms-error-code", "AuthorizationFailure")],
            "<Error><Code>AuthorizationFailure</Code><Message>Server failed to authenticate the \
             request. Make sure the value of the Authorization header is formed correctly \
             including the signature.</Message></Error>",
        );
        assert_eq!(diagnose(&azurite_key, Some("AuthorizationFailure")), None);
        let skew = answer(
            403,
            &[],
            "<Error><Code>AuthenticationFailed</Code><Message>Server failed to authenticate the \
             request.</Message><AuthenticationErrorDetail>Request date header too old: 'Fri, 01 \
             Jan 2021 00:00:00 GMT'</AuthenticationErrorDetail></Error>",
        );
        assert_eq!(
            diagnose(&skew, Some("AuthenticationFailed")),
            Some(Cause::ClockSkew)
        );
        let signature = answer(
            403,
            &[],
            "<Error><Code>AuthenticationFailed</Code><AuthenticationErrorDetail>The MAC \
             signature found in the HTTP request 'x' is not the same as any computed \
             signature.</AuthenticationErrorDetail></Error>",
        );
        assert_eq!(diagnose(&signature, Some("AuthenticationFailed")), None);
    }
}
