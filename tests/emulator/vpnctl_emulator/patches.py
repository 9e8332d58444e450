"""Stricter-than-stock moto behaviour: ACM in-use certificates, NAT gateway life cycle, EIPs."""
import time

from moto.ec2.exceptions import EC2ClientError

from . import clientvpn, delay
from .hooks import require


def install_acm():
    from moto.acm import models as acm_models
    from moto.acm.exceptions import AWSError
    from moto.ec2.models import ec2_backends

    Backend = require(acm_models, "AWSCertificateManagerBackend")
    require(acm_models, "AWS_ROOT_CA")
    require(acm_models, "acm_backends")
    require(acm_models.CertBundle, "validate_chain")
    original = require(Backend, "delete_certificate")

    def delete_certificate(self, arn):
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
        old = self._certificates.get(arn) if arn else None
        result = orig_import(self, certificate, private_key, chain, arn, tags)
        if old is not None and result in self._certificates:
            self._certificates[result].tags = old.tags
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
def settle_nat(backend):
    for ngw in list(backend.nat_gateways.values()):
        since = ngw.__dict__.get("_vpnctl_since")
        if since is None:
            continue
        if time.monotonic() - since < delay():
            continue
        if ngw.state == "pending":
            ngw.state = "available"
            ngw._vpnctl_since = None
        elif ngw.state == "deleting":
            ngw.state = "deleted"
            ngw._vpnctl_since = None
            for eip in list(backend.addresses):
                if eip.eni is not None and eip.eni.id == ngw._eni.id:
                    backend.disassociate_address(address=eip.public_ip)


def nat_using(backend, eip):
    settle_nat(backend)
    if eip.eni is None:
        return None
    for ngw in backend.nat_gateways.values():
        if ngw.state != "deleted" and ngw._eni.id == eip.eni.id:
            return ngw
    return None


def install_nat():
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
        ngw._vpnctl_since = time.monotonic()
        return ngw

    def delete_nat_gateway(self, nat_gateway_id):
        settle_nat(self)
        ngw = self.nat_gateways.get(nat_gateway_id)
        if ngw is None:
            raise EC2ClientError("NatGatewayNotFound", f"The Nat Gateway {nat_gateway_id} was not found")
        if ngw.state not in ("deleting", "deleted"):
            ngw.state = "deleting"
            ngw._vpnctl_since = time.monotonic()
        return ngw

    def describe_nat_gateways(self, filters, nat_gateway_ids):
        settle_nat(self)
        filters = dict(filters or {})
        tag_filters = {k: filters.pop(k) for k in list(filters) if k.startswith("tag:") or k in ("tag-key", "tag-value")}
        result = orig_describe(self, filters, nat_gateway_ids)
        for name, values in tag_filters.items():
            result = [n for n in result if clientvpn.tag_match(self.tags.get(n.id, {}), name, [str(v) for v in values])]
        return result

    NB.create_nat_gateway = create_nat_gateway
    NB.delete_nat_gateway = delete_nat_gateway
    NB.describe_nat_gateways = describe_nat_gateways

    EB = require(eip_models, "ElasticAddressBackend")
    orig_release = require(EB, "release_address")
    orig_describe_addr = require(EB, "describe_addresses")
    orig_disassociate = require(EB, "disassociate_address")
    require(EB, "address_by_ip")
    require(EB, "address_by_allocation")

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

    def describe_addresses(self, *args, **kwargs):
        settle_nat(self)
        return orig_describe_addr(self, *args, **kwargs)

    EB.release_address = release_address
    EB.describe_addresses = describe_addresses
    EB.disassociate_address = disassociate_address
