//! The process environment as Label Studio reads it.
use super::target::Source;
use super::vars::Layer;

/// The variables Label Studio would read from this environment, by canonical name.
pub fn layer(vars: &[(String, String)]) -> Layer {
    let mut layer = Layer::default();
    for (name, value) in vars {
        layer.add_variable(
            name,
            value.clone(),
            Source::Environment { var: name.clone() },
        );
    }
    layer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_prefixed_and_plain_names_and_ignores_the_rest() {
        let vars = vec![
            ("PATH".to_string(), "/bin".to_string()),
            (
                "HEARTEX_STORAGE_AWS_BUCKET_NAME".to_string(),
                "b".to_string(),
            ),
        ];
        let layer = layer(&vars);
        let bucket = layer.get("STORAGE_AWS_BUCKET_NAME").unwrap();
        assert_eq!(bucket.value, "b");
        assert_eq!(
            bucket.source.to_string(),
            "environment HEARTEX_STORAGE_AWS_BUCKET_NAME"
        );
        assert_eq!(layer.entries().count(), 1);
    }
}
