"""Stricter-than-stock moto behaviour: ACM in-use certificates, NAT gateway life cycle, EIPs,
and the eventual-consistency window (control API) for certificates, NAT gateways and EIPs.

moto's own objects carry `_vpnctl_born` (when created, for the window) and NAT gateways
`_vpnctl_since` (when their transitional state began)."""
import threading
import time

from moto.ec2.exceptions import EC2ClientError

from . import clientvpn, control
from .hooks import require


def born(obj):
    return obj.__dict__.get("_vpnctl_born")


def install_acm():
    from moto.acm import exceptions as acm_exceptions
    from moto.acm import models as acm_models
    from moto.acm.exceptions import AWSError
    from moto.ec2.models import ec2_backends

    Backend = require(acm_models, "AWSCertificateManagerBackend")
    require(acm_models, "AWS_ROOT_CA")
    require(acm_models, "acm_backends")
    require(acm_models.CertBundle, "validate_chain")
    CertificateNotFound = require(acm_exceptions, "CertificateNotFound")
    original = require(Backend, "delete_certificate")

    # Within the consistency window a new certificate is not found by the calls that name it
    # (they all look it up through get_certificate) and ListCertificates leaves it out; moto's
    # listing looks each certificate up too, so it may see everything.
    orig_get = require(Backend, "get_certificate")
    orig_list = require(Backend, "list_certificates")
    internal = threading.local()

    def get_certificate(self, arn):
        bundle = self._certificates.get(arn)
        if bundle is not None and control.hidden(born(bundle)) and not getattr(internal, "on", False):
            raise CertificateNotFound(arn=arn, account_id=self.account_id)
        return orig_get(self, arn)

    def list_certificates(self, statuses, includes):
        internal.on = True
        try:
            found = list(orig_list(self, statuses, includes))
        finally:
            internal.on = False
        return [c for c in found if not control.hidden(born(c))]

    Backend.get_certificate = get_certificate
    Backend.list_certificates = list_certificates

    def delete_certificate(self, arn):
        self.get_certificate(arn)  # not found while hidden, as AWS would say
        if arn in self._certificates:
            with clientvpn.LOCK:
                backend = ec2_backends[self.account_id][self.region_name]
                clientvpn.settle(backend)
                users = []
                for ep in clientvpn.get_state(backend).endpoints.values():
                    arns = {ep.server_cert_arn} | {
                        (o.get("MutualAuthentication") or {}).get("ClientRootCertificateChainArn")
                        for o in ep.auth_options
                    }
                    if arn in arns:
                        users.append(ep.id)
            if users:
                raise AWSError(
                    f"Certificate {arn} is in use by {', '.join(users)}",
                    exception_type="ResourceInUseException",
                )
        return original(self, arn)

    Backend.delete_certificate = delete_certificate

    # Re-importing to an existing ARN keeps the certificate's tags on AWS; stock moto builds a
    # new bundle and drops them.
    orig_import = require(Backend, "import_certificate")

    def import_certificate(self, certificate, private_key, chain, arn, tags):
        if arn:
            self.get_certificate(arn)  # a re-import names the certificate
        old = self._certificates.get(arn) if arn else None
        result = orig_import(self, certificate, private_key, chain, arn, tags)
        bundle = self._certificates.get(result)
        if bundle is not None:
            # A re-import keeps the certificate's tags (stock moto drops them) and its age.
            bundle._vpnctl_born = born(old) if old is not None else time.monotonic()
            if old is not None:
                bundle.tags = old.tags
        return result

    Backend.import_certificate = import_certificate
    # DescribeCertificate's InUseBy: report the Client VPN endpoints using it.
    orig_describe = require(acm_models.CertBundle, "describe")

    def describe(self):
        result = orig_describe(self)
        try:
            account, region = self.arn.split(":")[4], self.arn.split(":")[3]
            backend = ec2_backends[account][region]
            st = clientvpn.get_state(backend)
            using = [
                ep.id
                for ep in st.endpoints.values()
                if self.arn == ep.server_cert_arn
                or self.arn
                in {(o.get("MutualAuthentication") or {}).get("ClientRootCertificateChainArn") for o in ep.auth_options}
            ]
            result["Certificate"]["InUseBy"] = list(self.in_use_by) + using
        except Exception:
            pass
        return result

    acm_models.CertBundle.describe = describe


# ----------------------------------------------------------------- NAT gateways
def free_eip(backend, ngw):
    """The gateway no longer holds its Elastic IP: it stays allocated, no longer associated."""
    for eip in list(backend.addresses):
        if eip.eni is not None and eip.eni.id == ngw._eni.id:
            backend.disassociate_address(address=eip.public_ip)


def settle_nat(backend):
    for ngw in list(backend.nat_gateways.values()):
        since = ngw.__dict__.get("_vpnctl_since")
        if since is None:
            continue
        if ngw.state == "pending" and control.elapsed(since, "nat_creation"):
            ngw._vpnctl_since = None
            failure = ngw.__dict__.get("_vpnctl_failure")
            if failure is None:
                ngw.state = "available"
                continue
            # A failed gateway gives back its interface and address (AWS deletes it about an
            # hour later; it stays listed as failed here).
            address = (ngw.address_set or [{}])[0]
            ngw.state = "failed"
            ngw.failure_code = failure
            ngw.failure_message = control.NAT_FAILURES[failure].format(
                vpc=ngw.vpc_id,
                subnet=ngw.subnet_id,
                eni=ngw._eni.id,
                allocation=address.get("allocationId") or "",
            )
            free_eip(backend, ngw)
        elif ngw.state == "deleting" and control.elapsed(since, "nat_deletion"):
            ngw.state = "deleted"
            ngw._vpnctl_since = None
            free_eip(backend, ngw)


def nat_using(backend, eip):
    settle_nat(backend)
    if eip.eni is None:
        return None
    for ngw in backend.nat_gateways.values():
        if ngw.state not in ("deleted", "failed") and ngw._eni.id == eip.eni.id:
            return ngw
    return None


def nat_not_found(nat_gateway_id):
    return EC2ClientError("NatGatewayNotFound", f"The Nat Gateway {nat_gateway_id} was not found")


def install_nat():
    from moto.ec2 import models as ec2_models
    from moto.ec2.exceptions import InvalidAddressError, InvalidAllocationIdError
    from moto.ec2.models import elastic_ip_addresses as eip_models
    from moto.ec2.models import nat_gateways as nat_models

    NB = require(nat_models, "NatGatewayBackend")
    require(nat_models.NatGateway, "__init__")
    orig_create = require(NB, "create_nat_gateway")
    orig_describe = require(NB, "describe_nat_gateways")
    require(NB, "delete_nat_gateway")

    def create_nat_gateway(self, *args, **kwargs):
        settle_nat(self)
        subnet_id = kwargs.get("subnet_id", args[0] if args else None)
        self.get_subnet(subnet_id)  # InvalidSubnetID.NotFound instead of a crash
        allocation_id = kwargs.get("allocation_id", args[1] if len(args) > 1 else None)
        if allocation_id:
            eip = self.address_by_allocation([allocation_id])[0]
            if eip.eni is not None:
                raise EC2ClientError(
                    "Resource.AlreadyAssociated",
                    f"Elastic IP address [{allocation_id}] is already associated",
                )
        ngw = orig_create(self, *args, **kwargs)
        ngw.state = "pending"
        ngw._vpnctl_since = ngw._vpnctl_born = time.monotonic()
        ngw._vpnctl_failure = control.take_async_fault("CreateNatGateway")
        return ngw

    def visible_nat(self, nat_gateway_id):
        ngw = self.nat_gateways.get(nat_gateway_id)
        return None if ngw is None or control.hidden(born(ngw)) else ngw

    def delete_nat_gateway(self, nat_gateway_id):
        settle_nat(self)
        ngw = visible_nat(self, nat_gateway_id)
        if ngw is None:
            raise nat_not_found(nat_gateway_id)
        if ngw.state not in ("deleting", "deleted"):
            ngw.state = "deleting"
            ngw._vpnctl_since = time.monotonic()
        return ngw

    def describe_nat_gateways(self, filters, nat_gateway_ids):
        settle_nat(self)
        for nat_gateway_id in nat_gateway_ids or []:
            if nat_gateway_id in self.nat_gateways and visible_nat(self, nat_gateway_id) is None:
                raise nat_not_found(nat_gateway_id)
        filters = dict(filters or {})
        tag_filters = {k: filters.pop(k) for k in list(filters) if k.startswith("tag:") or k in ("tag-key", "tag-value")}
        result = [n for n in orig_describe(self, filters, nat_gateway_ids) if not control.hidden(born(n))]
        for name, values in tag_filters.items():
            result = [n for n in result if clientvpn.tag_match(self.tags.get(n.id, {}), name, [str(v) for v in values])]
        return result

    NB.create_nat_gateway = create_nat_gateway
    NB.delete_nat_gateway = delete_nat_gateway
    NB.describe_nat_gateways = describe_nat_gateways

    EB = require(eip_models, "ElasticAddressBackend")
    orig_allocate = require(EB, "allocate_address")
    orig_by_allocation = require(EB, "address_by_allocation")
    orig_release = require(EB, "release_address")
    orig_describe_addr = require(EB, "describe_addresses")
    orig_disassociate = require(EB, "disassociate_address")
    require(EB, "address_by_ip")

    def allocate_address(self, *args, **kwargs):
        eip = orig_allocate(self, *args, **kwargs)
        eip._vpnctl_born = time.monotonic()
        return eip

    def address_by_allocation(self, allocation_ids):
        # Every call that names an allocation ID looks it up here.
        eips = orig_by_allocation(self, allocation_ids)
        for eip in eips:
            if control.hidden(born(eip)):
                raise InvalidAllocationIdError(eip.allocation_id)
        return eips

    def find(self, address, allocation_id):
        if address:
            return self.address_by_ip([address])[0]
        if allocation_id:
            return self.address_by_allocation([allocation_id])[0]
        return None

    def release_address(self, address=None, allocation_id=None):
        eip = find(self, address, allocation_id)
        if eip is not None and nat_using(self, eip) is not None:
            raise EC2ClientError("AuthFailure", "You do not have permission to access the specified resource.")
        return orig_release(self, address=address, allocation_id=allocation_id)

    def disassociate_address(self, address=None, association_id=None):
        if association_id:
            eip = self.address_by_association([association_id])[0]
            if nat_using(self, eip) is not None:
                raise EC2ClientError("AuthFailure", "You do not have permission to access the specified resource.")
        return orig_disassociate(self, address=address, association_id=association_id)

    def describe_addresses(self, allocation_ids=None, public_ips=None, filters=None):
        settle_nat(self)
        result = orig_describe_addr(self, allocation_ids=allocation_ids, public_ips=public_ips, filters=filters)
        for eip in result:
            if control.hidden(born(eip)):
                if eip.allocation_id in (allocation_ids or []):
                    raise InvalidAllocationIdError(eip.allocation_id)
                if eip.public_ip in (public_ips or []):
                    raise InvalidAddressError(eip.public_ip)
        return [eip for eip in result if not control.hidden(born(eip))]

    EB.allocate_address = allocate_address
    EB.address_by_allocation = address_by_allocation
    EB.release_address = release_address
    EB.describe_addresses = describe_addresses
    EB.disassociate_address = disassociate_address

    # CreateTags names its resources: a hidden NAT gateway or EIP is not found.
    EC2Backend = require(ec2_models, "EC2Backend")
    orig_exist = require(EC2Backend, "do_resources_exist")

    def do_resources_exist(self, resource_ids):
        for r in resource_ids:
            if r.startswith("nat-") and r in self.nat_gateways and visible_nat(self, r) is None:
                raise nat_not_found(r)
            if r.startswith("eipalloc-") and any(e.allocation_id == r and control.hidden(born(e)) for e in self.addresses):
                raise InvalidAllocationIdError(r)
        return orig_exist(self, resource_ids)

    EC2Backend.do_resources_exist = do_resources_exist


# ----------------------------------------------------------------- EC2 tags
# Tag restrictions (Amazon EC2 user guide, "Tag your Amazon EC2 resources"): at most 50 tags per
# resource (stock moto enforces it, TagLimitExceeded), keys of at most 128 and values of at most
# 256 Unicode characters; the lengths are enforced when quotas are on.
TAG_KEY_LENGTH = 128
TAG_VALUE_LENGTH = 256


def install_tags():
    from moto.ec2 import models as ec2_models

    EC2Backend = require(ec2_models, "EC2Backend")
    orig_create_tags = require(EC2Backend, "create_tags")

    def create_tags(self, resource_ids, tags):
        if control.quotas():
            for key, value in tags.items():
                # The messages AWS gives (reported); the code is assumed.
                if len(key) > TAG_KEY_LENGTH:
                    raise EC2ClientError(
                        "InvalidParameterValue", f"Tag key exceeds the maximum length of {TAG_KEY_LENGTH} characters"
                    )
                if value is not None and len(value) > TAG_VALUE_LENGTH:
                    raise EC2ClientError(
                        "InvalidParameterValue",
                        f"Tag value exceeds the maximum length of {TAG_VALUE_LENGTH} characters",
                    )
        return orig_create_tags(self, resource_ids, tags)

    EC2Backend.create_tags = create_tags


def install_sfn():
    """Step Functions runs state machines (moto's ASL interpreter, enabled by the server).
    StartExecution without a name gets a unique one, as AWS gives (moto names it `None`, so a
    second unnamed execution of a state machine fails as `ExecutionAlreadyExists`)."""
    import uuid

    from moto.stepfunctions.parser import models as parser_models

    PB = require(parser_models, "StepFunctionsParserBackend")
    orig_start = require(PB, "start_execution")

    def start_execution(self, state_machine_arn, name=None, *args, **kwargs):
        return orig_start(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)

    PB.start_execution = start_execution


def install_kms():
    """KMS Sign as AWS does it (API reference, Sign): `MessageType=DIGEST` signs the given digest
    as it is (moto 5.2.5 ignores MessageType and hashes the digest again, so the signature never
    verifies; its Verify has the same bug), a digest must be as long as the algorithm's hash
    (else ValidationException), and a `RAW` message is at most 4096 bytes."""
    import base64
    import json

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, utils
    from moto.kms.exceptions import ValidationException
    from moto.kms.responses import KmsResponse

    from moto.kms.models import KmsBackend

    orig_sign = require(KmsResponse, "sign")
    ensure_key = require(KmsBackend, "_KmsBackend__ensure_valid_sign_and_verify_key")
    ensure_algorithm = require(KmsBackend, "_KmsBackend__ensure_valid_signing_algorithm")
    for attr in ("_get_param", "_validate_key_id"):
        require(KmsResponse, attr)

    digests = {
        "RSASSA_PKCS1_V1_5_SHA_256": (hashes.SHA256(), 32, False),
        "RSASSA_PKCS1_V1_5_SHA_384": (hashes.SHA384(), 48, False),
        "RSASSA_PKCS1_V1_5_SHA_512": (hashes.SHA512(), 64, False),
        "RSASSA_PSS_SHA_256": (hashes.SHA256(), 32, True),
        "RSASSA_PSS_SHA_384": (hashes.SHA384(), 48, True),
        "RSASSA_PSS_SHA_512": (hashes.SHA512(), 64, True),
    }

    def sign(self):
        message_type = self._get_param("MessageType") or "RAW"
        message = self._get_param("Message")
        raw = base64.b64decode(message) if isinstance(message, str) else (message or b"")
        if message_type == "RAW" and len(raw) > 4096:
            raise ValidationException(
                "1 validation error detected: Value at 'message' failed to satisfy constraint: "
                "Member must have length less than or equal to 4096"
            )
        if message_type != "DIGEST":
            return orig_sign(self)
        key_id = self._get_param("KeyId")
        algorithm = self._get_param("SigningAlgorithm")
        self._validate_key_id(key_id)
        key = self.kms_backend.describe_key(key_id)
        # moto's own checks of a signing key (usage SIGN_VERIFY, enabled, not pending deletion)
        # and of the algorithm, as for RAW.
        ensure_key(self.kms_backend, key)
        ensure_algorithm(self.kms_backend, key, algorithm)
        if algorithm not in digests or not hasattr(key.private_key, "private_key"):
            return orig_sign(self)
        hash_alg, length, pss = digests[algorithm]
        if len(raw) != length:
            raise ValidationException(
                f"Digest is invalid length for algorithm {algorithm}."
            )
        # AWS's PSS salt is as long as the hash (KMS developer guide, signing algorithms).
        pad = (padding.PSS(mgf=padding.MGF1(hash_alg), salt_length=hash_alg.digest_size)
               if pss else padding.PKCS1v15())
        signature = key.private_key.private_key.sign(raw, pad, utils.Prehashed(hash_alg))
        return json.dumps({
            "KeyId": key.arn,
            "Signature": base64.b64encode(signature).decode("utf-8"),
            "SigningAlgorithm": algorithm,
        })

    KmsResponse.sign = sign
