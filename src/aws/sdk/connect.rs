//! Reaching AWS as the AWS CLI does: profile, region, credentials, endpoint override.

use super::*;

/// Load the SDK configuration the way the AWS CLI does (credential chain, `--profile`,
/// `--region`, `AWS_ENDPOINT_URL`), then check that credentials resolve at all, so a missing
/// credential is one clear error before any work.
/// The endpoint URL the SDK resolved (`AWS_ENDPOINT_URL`, or `endpoint_url` in the profile),
/// recorded by `connect` for error messages: "cannot reach AWS at …".
static ENDPOINT_URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The endpoint override in effect, if any.
pub fn endpoint_url() -> Option<&'static str> {
    ENDPOINT_URL.get().map(String::as_str)
}

/// The region the environment or the profile gives, if any (not the instance metadata
/// service, which the SDK asks last).
pub async fn default_region(profile: Option<&str>) -> Option<String> {
    use aws_config::environment::EnvironmentVariableRegionProvider;
    use aws_config::meta::region::RegionProviderChain;
    use aws_config::profile::ProfileFileRegionProvider;
    let mut from_profile = ProfileFileRegionProvider::builder();
    if let Some(p) = profile {
        from_profile = from_profile.profile_name(p);
    }
    RegionProviderChain::first_try(EnvironmentVariableRegionProvider::new())
        .or_else(from_profile.build())
        .region()
        .await
        .map(|r| r.to_string())
        .filter(|r| !r.is_empty())
}

pub async fn connect(
    profile: Option<&str>,
    region: Option<&str>,
) -> Result<(AwsCloud, String), CloudError> {
    let config = load_config(profile, region).await?;
    let region = config.region().map(|r| r.to_string()).unwrap_or_default();
    Ok((AwsCloud::new(&config), region))
}

/// The SDK configuration `connect` uses (also the S3 store's and the KMS signer's), with its
/// region and credentials checked.
pub async fn load_config(
    profile: Option<&str>,
    region: Option<&str>,
) -> Result<aws_config::SdkConfig, CloudError> {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(p) = profile {
        loader = loader.profile_name(p);
    }
    if let Some(r) = region {
        loader = loader.region(aws_config::Region::new(r.to_string()));
    }
    let mut config = loader.load().await;
    if let Some(url) = config.endpoint_url() {
        let _ = ENDPOINT_URL.set(url.to_string());
    }
    if let Some(p) = profile {
        // As the AWS CLI does: an explicit profile beats AWS_ACCESS_KEY_ID and friends in the
        // environment (the default chain would take those first and never run the profile's
        // credential_process, SSO or role). Its STS calls (assume-role, web identity) need the
        // region resolved above.
        let from_profile = aws_config::profile::ProfileFileCredentialsProvider::builder()
            .profile_name(p)
            .configure(
                &aws_config::provider_config::ProviderConfig::default()
                    .with_region(config.region().cloned()),
            )
            .build();
        config = config
            .into_builder()
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(from_profile),
            )
            .build();
    }
    // A blank or malformed region would otherwise surface as a connection error.
    if let Some(r) = config.region().map(|r| r.to_string()).filter(|r| {
        !r.is_empty()
            && !r
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    }) {
        return Err(CloudError::api(
            "configuration",
            "NoRegion",
            format!("{r:?} is not an AWS region name"),
        ));
    }
    if config.region().is_none_or(|r| r.as_ref().is_empty()) {
        return Err(CloudError::api(
            "configuration",
            "NoRegion",
            "no AWS region configured",
        ));
    }
    use aws_credential_types::provider::ProvideCredentials;
    match config.credentials_provider() {
        None => {
            return Err(CloudError::new(
                Kind::NoCredentials,
                "no credential provider",
            ));
        }
        Some(p) => {
            if let Err(e) = p.provide_credentials().await {
                return Err(CloudError::new(
                    Kind::NoCredentials,
                    DisplayErrorContext(&e).to_string(),
                ));
            }
        }
    }
    Ok(config)
}
