"""Create an IAM SAML provider, as an organisation's IdP set-up does (IAM → Identity
providers → SAML, from the IdP's metadata); moto keeps the metadata as given.

Prints {"arn": ARN}.
Usage: python saml_provider.py --endpoint http://127.0.0.1:PORT [--name NAME]
"""

import argparse
import json

import boto3

METADATA = """<?xml version="1.0"?>
<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.example.com/saml">
  <IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <KeyDescriptor use="signing"><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data>
      <X509Certificate>MIIBszCCAVmgAwIBAgIUZXhhbXBsZSBvbmx5LCBub3QgYSByZWFsIGNlcnQwCgYIKoZIzj0EAwIwEjEQMA4GA1UEAwwHZXhhbXBsZTAeFw0yNjAxMDEwMDAwMDBaFw0zNjAxMDEwMDAwMDBaMBIxEDAOBgNVBAMMB2V4YW1wbGU=</X509Certificate>
    </X509Data></KeyInfo></KeyDescriptor>
    <SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.com/saml/sso"/>
    <SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.example.com/saml/sso/post"/>
  </IDPSSODescriptor>
  <Organization>
    <OrganizationName xml:lang="en">Example Identity Provider</OrganizationName>
    <OrganizationDisplayName xml:lang="en">Example IdP for vpnctl's tests</OrganizationDisplayName>
    <OrganizationURL xml:lang="en">https://idp.example.com/</OrganizationURL>
  </Organization>
  <ContactPerson contactType="technical"><EmailAddress>it@example.com</EmailAddress></ContactPerson>
</EntityDescriptor>
"""


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--name", default="example-idp")
    a = p.parse_args()
    iam = boto3.client("iam", endpoint_url=a.endpoint, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    arn = iam.create_saml_provider(SAMLMetadataDocument=METADATA, Name=a.name)["SAMLProviderArn"]
    print(json.dumps({"arn": arn}))


if __name__ == "__main__":
    main()
