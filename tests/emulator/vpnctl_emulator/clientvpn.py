"""Client VPN for moto: state kept on moto's own per-account/per-region EC2 backend.

State is stored as an attribute of the EC2 backend object, so moto's reset (which wipes a
backend's __dict__ or drops the backend) wipes it too. Transitions are lazy: every object
records when it entered its transitional state and is settled when read. Every object also
records when it was created (`born`), for the eventual-consistency window of the control API.
"""
import base64
import datetime
import fnmatch
import hashlib
import ipaddress
import json
import re
import threading
import time

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtensionOID, NameOID
from moto.core.responses import ActionResult
from moto.ec2.exceptions import EC2ClientError
from moto.moto_api._internal import mock_random as random

from . import control

LOCK = threading.RLock()
STATE_ATTR = "_vpnctl_cvpn_state"
HEX = "0123456789abcdef"


def rid(prefix: str, size: int = 17) -> str:
    return f"{prefix}-" + "".join(random.choice(HEX) for _ in range(size))


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def err(code: str, message: str) -> EC2ClientError:
    return EC2ClientError(code, message)


# AWS Client VPN quotas ("AWS Client VPN quotas", Client VPN administrator guide), enforced when
# the control API's "quotas" is on; the concurrent-operation one also by concurrent_mutation_limit.
ENDPOINTS_PER_REGION = 5
RULES_PER_ENDPOINT = 200
ROUTES_PER_ASSOCIATION = 100
CONCURRENT_OPERATIONS = 10
CRL_ENTRIES = 20000
# Assumed: the guide gives no number, but its connection quota stops at 5 associated subnets.
ASSOCIATIONS_PER_ENDPOINT = 5
# Target network requirements ("AWS Client VPN target networks"): at least a /27, and at least
# 20 available IP addresses at all times.
SMALLEST_SUBNET_PREFIX = 27
FREE_ADDRESSES = 20
TRANSITIONAL = {"associating", "disassociating", "authorizing", "revoking", "creating", "deleting"}


def visible(items) -> list:
    """What the describes and look-ups see: resources past the eventual-consistency window."""
    return [i for i in items if not control.hidden(i.born)]


class CvpnState:
    def __init__(self):
        self.endpoints: dict = {}  # id -> Endpoint
        self.tokens: dict = {}  # (action, token) -> (fingerprint, response dict)


class Endpoint:
    def __init__(self, **kw):
        self.__dict__.update(kw)
        self.born = time.monotonic()
        self.associations: list = []  # Association
        self.rules: list = []  # Rule
        self.routes: list = []  # Route
        self.connections: list = []  # Connection
        self.crl = None
        self.deleting_since = None


class Obj:
    def __init__(self, **kw):
        self.__dict__.update(kw)
        self.since = self.born = time.monotonic()


def get_state(backend) -> CvpnState:
    st = backend.__dict__.get(STATE_ATTR)
    if st is None:
        st = CvpnState()
        backend.__dict__[STATE_ATTR] = st
    return st


# ---------------------------------------------------------------- options and sign-in
# The API reference (CreateClientVpnEndpoint, ModifyClientVpnEndpoint): SessionTimeoutHours
# 8 | 10 | 12 | 24; BannerText "UTF-8 encoded characters only. Maximum of 1400 characters."
# The error codes for these refusals are not documented: InvalidParameterValue, as for the
# other parameter checks (assumed; see README "Endpoint options and sign-in").
SESSION_HOURS = (8, 10, 12, 24)
BANNER_MAX_CHARS = 1400
AUTH_TYPES = ("certificate-authentication", "directory-service-authentication", "federated-authentication")


def check_session_timeout(value):
    if value is None:
        return None
    try:
        hours = int(value)
    except (TypeError, ValueError):
        hours = None
    if hours not in SESSION_HOURS:
        raise err("InvalidParameterValue", f"Value ({value}) for parameter SessionTimeoutHours is invalid. Valid values are 8, 10, 12 and 24")
    return hours


def check_banner(banner):
    """ClientLoginBannerOptions as stored: {"Enabled": bool[, "BannerText": text]}."""
    if banner is None:
        return None
    enabled = str(banner.get("Enabled", False)).lower() == "true"
    text = banner.get("BannerText")
    if enabled and not text:
        raise err("InvalidParameterValue", "BannerText is required when the login banner is enabled")
    if text is not None and len(text) > BANNER_MAX_CHARS:
        raise err("InvalidParameterValue", f"BannerText is {len(text)} characters long; the maximum is {BANNER_MAX_CHARS}")
    return {"Enabled": enabled, **({"BannerText": text} if text else {})}


def flag_param(value):
    return None if value is None else str(value).lower() == "true"


def check_auth(acct, auth):
    """The sign-in combinations the admin guide allows ("Client authentication"): one method
    alone, or certificate (mutual) authentication with Active Directory or with SAML; each
    SAML provider must exist in IAM in the endpoint's account."""
    types = [opt.get("Type") for opt in auth]
    for t in types:
        if t not in AUTH_TYPES:
            raise err("InvalidParameterValue", f"Value ({t}) for parameter AuthenticationOptions.Type is invalid")
    if len(types) > 2 or len(set(types)) != len(types):
        raise err("InvalidParameterValue", "At most one authentication option of each type, and at most two, can be specified")
    if set(types) == {"directory-service-authentication", "federated-authentication"}:
        raise err("InvalidParameterValue", "Active Directory and federated authentication cannot be combined")
    for opt in auth:
        if opt.get("Type") == "directory-service-authentication":
            if not (opt.get("ActiveDirectory") or {}).get("DirectoryId"):
                raise err("MissingParameter", "The request must contain the parameter ActiveDirectory.DirectoryId")
        if opt.get("Type") == "federated-authentication":
            fed = opt.get("FederatedAuthentication") or {}
            for key in ("SAMLProviderArn", "SelfServiceSAMLProviderArn"):
                arn = fed.get(key)
                if key == "SAMLProviderArn" and not arn:
                    raise err("MissingParameter", "The request must contain the parameter FederatedAuthentication.SAMLProviderArn")
                if arn and not saml_provider_exists(acct, arn):
                    raise err("InvalidParameterValue", f"The SAML provider {arn} does not exist")
    return types


def saml_provider_exists(acct, arn):
    from moto.iam.models import iam_backends

    try:
        iam_backends[acct]["global"].get_saml_provider(arn)
        return True
    except Exception:
        return False


def check_portal(value, types):
    """SelfServicePortal: enabled | disabled; not available with certificate authentication
    alone (admin guide, "Self-service portal")."""
    if value is None:
        return None
    if value not in ("enabled", "disabled"):
        raise err("InvalidParameterValue", f"Value ({value}) for parameter SelfServicePortal is invalid")
    if value == "enabled" and not set(types) & {"directory-service-authentication", "federated-authentication"}:
        raise err("InvalidParameterValue", "The self-service portal requires Active Directory or federated authentication")
    return value == "enabled"


# ---------------------------------------------------------------- lazy settling
def settle(backend) -> None:
    st = get_state(backend)
    elapsed = control.elapsed
    for ep_id in list(st.endpoints):
        ep = st.endpoints[ep_id]
        if ep.deleting_since is not None and elapsed(ep.deleting_since, "endpoint_deletion"):
            del st.endpoints[ep_id]
            backend.tags.pop(ep_id, None)
            continue
        for a in list(ep.associations):
            if a.status == "associating" and elapsed(a.since, "association"):
                a.status, a.since = "associated", time.monotonic()
            elif a.status == "disassociating" and elapsed(a.since, "disassociation"):
                ep.associations.remove(a)
                if not ep.associations:
                    # No target network left: the endpoint carries no traffic, clients drop.
                    for c in ep.connections:
                        if c.status == "active":
                            c.status, c.end_time = "terminated", now_str()
        for r in list(ep.rules):
            if r.status == "authorizing" and elapsed(r.since, "authorization"):
                r.status = "active"
            elif r.status == "revoking" and elapsed(r.since, "revocation"):
                ep.rules.remove(r)
        for r in list(ep.routes):
            if r.status == "creating" and elapsed(r.since, "route_creation"):
                r.status = "active"
            elif r.status == "deleting" and elapsed(r.since, "route_deletion"):
                ep.routes.remove(r)
        for c in ep.connections:
            if c.status == "terminating" and elapsed(c.since, "connection_termination"):
                c.status = "terminated"
                c.end_time = now_str()


def terminate(c) -> str:
    """End a live connection (TerminateClientVpnConnections, or a CRL import's reset); returns
    the status it had."""
    prev = c.status
    if c.status == "active":
        c.status, c.since = "terminating", time.monotonic()
    return prev


def in_flight(ep) -> int:
    """Operations under way on the endpoint: each association, rule or route in a transitional
    state counts once (an association's own VPC route included)."""
    return sum(1 for x in ep.associations + ep.rules + ep.routes if x.status in TRANSITIONAL)


def now_str() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def endpoint_status(ep) -> str:
    if ep.deleting_since is not None:
        return "deleting"
    if any(a.status == "associated" for a in ep.associations):
        return "available"
    return "pending-associate"


# ---------------------------------------------------------------- validation helpers
def parse_cidr(value, param="ClientCidrBlock"):
    try:
        return ipaddress.ip_network(str(value), strict=False)
    except ValueError:
        raise err("InvalidParameterValue", f"Value ({value}) for parameter {param} is invalid.")


def vpc_cidrs(vpc):
    cidrs = [vpc.cidr_block]
    try:
        for assoc in vpc.cidr_block_association_set:
            block = assoc.get("cidr_block") if isinstance(assoc, dict) else None
            if block and block not in cidrs:
                cidrs.append(block)
    except Exception:
        pass
    return [ipaddress.ip_network(c, strict=False) for c in cidrs if c]


FQDN = re.compile(r"^(?=.{1,253}$)(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}\.?$")


def cert_domain(cert: x509.Certificate):
    names = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    try:
        san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
        names += san.value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        pass
    for n in names:
        if FQDN.match(str(n)):
            return str(n)
    return None


def get_acm_cert(account_id, region, arn, param):
    from moto.acm.models import acm_backends

    acm = acm_backends[account_id][region]
    bundle = acm._certificates.get(arn) if arn else None
    if bundle is None:
        raise err("InvalidParameterValue", f"Certificate {arn} does not exist")
    return bundle


def check_server_cert(account_id, region, arn):
    bundle = get_acm_cert(account_id, region, arn, "ServerCertificateArn")
    cert = bundle._cert
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size not in (1024, 2048):
        raise err(
            "InvalidParameterValue",
            f"Certificate {arn} has an unsupported key algorithm; "
            "Client VPN supports RSA 1024 and RSA 2048 server certificates",
        )
    if cert_domain(cert) is None:
        raise err("InvalidParameterValue", f"Certificate {arn} does not have a domain")
    return bundle


def original_chain(bundle) -> str:
    from moto.acm.models import AWS_ROOT_CA

    chain = bundle.chain or b""
    suffix = AWS_ROOT_CA + b"\n"
    if chain.endswith(suffix):
        chain = chain[: -len(suffix)]
    if chain.endswith(b"\n"):
        chain = chain[:-1]
    return chain.decode().strip()


def fingerprint(params: dict) -> str:
    clean = {k: v for k, v in params.items() if k not in ("ClientToken", "DryRun", "Action", "Version")}
    return hashlib.sha256(json.dumps(clean, sort_keys=True, default=str).encode()).hexdigest()


def tag_match(tags: dict, name: str, values) -> bool:
    if name == "tag-key":
        return any(fnmatch.fnmatchcase(k, v) for k in tags for v in values)
    if name == "tag-value":
        return any(fnmatch.fnmatchcase(t, v) for t in tags.values() for v in values)
    key = name[4:]
    return key in tags and any(fnmatch.fnmatchcase(tags[key], v) for v in values)


def apply_filters(items, filters: dict, getters: dict, tags_of=None):
    for name, values in filters.items():
        values = [str(v) for v in (values or [])]
        if tags_of is not None and (name.startswith("tag:") or name in ("tag-key", "tag-value")):
            items = [i for i in items if tag_match(tags_of(i), name, values)]
            continue
        if name not in getters:
            raise err("InvalidParameterValue", f"The filter '{name}' is invalid")
        items = [i for i in items if str(getters[name](i)) in values]
    return items


def paginate(items, max_results, next_token):
    start = 0
    if next_token:
        try:
            start = int(base64.b64decode(next_token).decode())
        except Exception:
            raise err("InvalidNextToken", f"The token '{next_token}' is invalid")
    if max_results is not None:
        max_results = int(max_results)
        if max_results < 5 or max_results > 1000:
            raise err("InvalidParameterValue", "MaxResults must be between 5 and 1000")
        page = items[start : start + max_results]
        nxt = start + max_results
        token = base64.b64encode(str(nxt).encode()).decode() if nxt < len(items) else None
        return page, token
    return items[start:], None


def check_target_network(ep, live, subnet) -> None:
    """AWS's quotas and requirements for one more target network (when quotas are on)."""
    prefix = ipaddress.ip_network(subnet.cidr_block).prefixlen
    if prefix > SMALLEST_SUBNET_PREFIX:
        # Assumed code: the guide states the rule but not the error.
        raise err(
            "InvalidParameterValue",
            f"Subnet {subnet.id} ({subnet.cidr_block}) is too small: a target network needs at "
            f"least a /{SMALLEST_SUBNET_PREFIX}",
        )
    if subnet.available_ip_address_count < FREE_ADDRESSES:
        raise err(
            "InsufficientFreeAddressesInSubnet",
            f"Subnet {subnet.id} has {subnet.available_ip_address_count} free addresses; a target "
            f"network needs at least {FREE_ADDRESSES}",
        )
    if len(live) >= ASSOCIATIONS_PER_ENDPOINT:
        # Assumed code: EC2's generic one for an exceeded resource limit.
        raise err(
            "ResourceLimitExceeded",
            f"Client VPN endpoint {ep.id} already has {len(live)} target networks",
        )


# ---------------------------------------------------------------- the response mixin
class ClientVpnResponse:
    """Methods grafted onto moto's EC2Response (dispatch is by snake_case action name)."""

    # -- helpers --------------------------------------------------------------
    def _cv(self):
        self.error_on_dryrun()
        backend = self.ec2_backend
        settle(backend)
        return backend, get_state(backend)

    def _cv_endpoint(self, st, ep_id):
        ep = st.endpoints.get(ep_id)
        if ep is None or control.hidden(ep.born):
            raise err(
                "InvalidClientVpnEndpointId.NotFound",
                f"The Client VPN endpoint ID '{ep_id}' does not exist",
            )
        return ep

    def _cv_mutable(self, st, ep_id):
        """The endpoint a mutating call names, once it may start another operation."""
        ep = self._cv_endpoint(st, ep_id)
        limit = control.mutation_limit(CONCURRENT_OPERATIONS)
        if limit and in_flight(ep) >= limit:
            # The code and message AWS gives (terraform-provider-aws#19750).
            raise err(
                "ConcurrentMutationLimitExceeded",
                "Cannot initiate another change for this endpoint at this time. Please try again later.",
            )
        return ep

    def _cv_idem(self, st, action, build):
        token = self._get_param("ClientToken")
        if not token:
            return build()
        fp = fingerprint(self._get_params())
        key = (action, token)
        if key in st.tokens:
            old_fp, resp = st.tokens[key]
            if old_fp != fp:
                raise err(
                    "IdempotentParameterMismatch",
                    "The client token you have provided is associated with a resource that has different parameters",
                )
            return resp
        resp = build()
        st.tokens[key] = (fp, resp)
        return resp

    def _cv_validate_sgs(self, backend, sg_ids, vpc_id):
        for sg_id in sg_ids:
            sg = backend.get_security_group_from_id(sg_id)
            if sg is None:
                raise err("InvalidGroup.NotFound", f"The security group '{sg_id}' does not exist")
            if vpc_id and sg.vpc_id != vpc_id:
                raise err(
                    "InvalidParameterValue",
                    f"Security group {sg_id} does not belong to VPC {vpc_id}",
                )

    def _cv_default_sg(self, backend, vpc_id):
        sg = backend.get_default_security_group(vpc_id)
        return [sg.id] if sg is not None else []

    def _cv_endpoint_dict(self, backend, ep):
        auth = []
        for opt in ep.auth_options:
            a = {"Type": opt.get("Type")}
            mutual = opt.get("MutualAuthentication")
            if mutual:
                a["MutualAuthentication"] = {
                    "ClientRootCertificateChain": mutual.get("ClientRootCertificateChainArn")
                }
            if opt.get("ActiveDirectory"):
                a["ActiveDirectory"] = {"DirectoryId": opt["ActiveDirectory"].get("DirectoryId")}
            fed = opt.get("FederatedAuthentication")
            if fed:
                a["FederatedAuthentication"] = {
                    "SamlProviderArn": fed.get("SAMLProviderArn"),
                    "SelfServiceSamlProviderArn": fed.get("SelfServiceSAMLProviderArn"),
                }
            auth.append(a)
        tags = backend.tags.get(ep.id, {})
        return {
            "ClientVpnEndpointId": ep.id,
            "Description": ep.description,
            "Status": {"Code": endpoint_status(ep)},
            "CreationTime": ep.creation_time,
            "DnsName": ep.dns_name,
            "ClientCidrBlock": ep.client_cidr,
            "DnsServers": list(ep.dns_servers),
            "SplitTunnel": ep.split_tunnel,
            "VpnProtocol": "openvpn",
            "TransportProtocol": ep.transport,
            "VpnPort": ep.vpn_port,
            "ServerCertificateArn": ep.server_cert_arn,
            "AuthenticationOptions": auth,
            "ConnectionLogOptions": ep.log_options,
            "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
            "SecurityGroupIds": list(ep.sg_ids),
            "VpcId": ep.vpc_id,
            "SelfServicePortalUrl": (
                f"https://self-service.clientvpn.amazonaws.com/endpoints/{ep.id}"
                if getattr(ep, "self_service_portal", False) else None
            ),
            "ClientRouteEnforcementOptions": {"Enforced": bool(getattr(ep, "route_enforcement", False))},
            "ClientConnectOptions": ep.client_connect,
            "SessionTimeoutHours": ep.session_timeout,
            "ClientLoginBannerOptions": ep.banner,
            "DisconnectOnSessionTimeout": ep.disconnect_on_timeout,
        }

    def _cv_assoc_dict(self, ep, a):
        return {
            "AssociationId": a.id,
            "VpcId": a.vpc_id,
            "TargetNetworkId": a.subnet_id,
            "ClientVpnEndpointId": ep.id,
            "Status": {"Code": a.status},
            "SecurityGroups": list(ep.sg_ids),
        }

    # -- endpoints ------------------------------------------------------------
    def create_client_vpn_endpoint(self):
        with LOCK:
            backend, st = self._cv()
            return ActionResult(self._cv_idem(st, "CreateClientVpnEndpoint", lambda: self._cv_create(backend, st)))

    def _cv_create(self, backend, st):
        acct, region = self.current_account, self.region
        cidr = self._get_param("ClientCidrBlock")
        if not cidr:
            raise err("MissingParameter", "The request must contain the parameter ClientCidrBlock")
        net = parse_cidr(cidr)
        if not (12 <= net.prefixlen <= 22):
            raise err(
                "InvalidParameterValue",
                f"Invalid CIDR block {cidr}: the client CIDR block must be between /12 and /22",
            )
        server_arn = self._get_param("ServerCertificateArn")
        check_server_cert(acct, region, server_arn)
        auth = self._get_param("AuthenticationOptions", []) or []
        if not auth:
            raise err("MissingParameter", "The request must contain the parameter AuthenticationOptions")
        types = check_auth(acct, auth)
        portal = check_portal(self._get_param("SelfServicePortal"), types)
        if portal is None:
            # The API reference documents "enabled" as the default; without a user-based
            # method there is no portal.
            portal = bool(set(types) & {"directory-service-authentication", "federated-authentication"})
        banner = check_banner(self._get_param("ClientLoginBannerOptions")) or {"Enabled": False}
        enforcement = flag_param((self._get_param("ClientRouteEnforcementOptions") or {}).get("Enforced"))
        for opt in auth:
            if opt.get("Type") == "certificate-authentication":
                root = (opt.get("MutualAuthentication") or {}).get("ClientRootCertificateChainArn")
                get_acm_cert(acct, region, root, "ClientRootCertificateChainArn")
        dns = self._get_param("DnsServers", []) or []
        if len(dns) > 2:
            raise err("InvalidParameterValue", "A maximum of two DNS servers can be specified")
        for d in dns:
            try:
                ipaddress.ip_address(d)
            except ValueError:
                raise err("InvalidParameterValue", f"Invalid DNS server address {d}")
        transport = self._get_param("TransportProtocol") or "udp"
        if transport not in ("udp", "tcp"):
            raise err("InvalidParameterValue", f"Value ({transport}) for parameter TransportProtocol is invalid")
        port = int(self._get_param("VpnPort") or 443)
        if port not in (443, 1194):
            raise err("InvalidParameterValue", f"Value ({port}) for parameter VpnPort is invalid. Valid values are 443 and 1194")
        session = check_session_timeout(self._get_param("SessionTimeoutHours")) or 24
        vpc_id = self._get_param("VpcId")
        sg_ids = self._get_param("SecurityGroupIds", []) or []
        if vpc_id:
            vpc = backend.get_vpc(vpc_id)  # InvalidVpcID.NotFound
            for vnet in vpc_cidrs(vpc):
                if vnet.overlaps(net):
                    raise err(
                        "InvalidParameterValue",
                        f"Client CIDR block {cidr} overlaps with the CIDR block {vnet} of VPC {vpc_id}",
                    )
        self._cv_validate_sgs(backend, sg_ids, vpc_id)
        if vpc_id and not sg_ids:
            sg_ids = self._cv_default_sg(backend, vpc_id)
        specs = self._get_param("TagSpecifications", []) or []
        tags = {}
        for spec in specs:
            if spec.get("ResourceType") != "client-vpn-endpoint":
                raise err(
                    "InvalidParameterValue",
                    f"'{spec.get('ResourceType')}' is not a valid taggable resource type for this operation.",
                )
            for t in spec.get("Tags", []) or []:
                tags[t["Key"]] = t.get("Value", "")
        log = self._get_param("ConnectionLogOptions") or {"Enabled": False}
        if control.quotas() and len(st.endpoints) >= ENDPOINTS_PER_REGION:
            raise err(
                "ClientVpnEndpointLimitExceeded",
                f"You've reached the limit of {ENDPOINTS_PER_REGION} Client VPN endpoints in this Region",
            )
        ep_id = rid("cvpn-endpoint")
        ep = Endpoint(
            id=ep_id,
            description=self._get_param("Description"),
            creation_time=now_iso(),
            dns_name=f"*.{ep_id}.prod.clientvpn.{region}.amazonaws.com",
            client_cidr=str(cidr),
            dns_servers=list(dns),
            split_tunnel=bool(self._get_param("SplitTunnel", False)),
            transport=transport,
            vpn_port=port,
            server_cert_arn=server_arn,
            auth_options=auth,
            log_options={
                "Enabled": bool(log.get("Enabled", False)),
                **({"CloudwatchLogGroup": log["CloudwatchLogGroup"]} if log.get("CloudwatchLogGroup") else {}),
                **({"CloudwatchLogStream": log["CloudwatchLogStream"]} if log.get("CloudwatchLogStream") else {}),
            },
            sg_ids=list(sg_ids),
            vpc_id=vpc_id,
            client_connect={"Enabled": False, "Status": {"Code": "applied"}},
            session_timeout=session,
            banner=banner,
            disconnect_on_timeout=flag_param(self._get_param("DisconnectOnSessionTimeout", True)),
            self_service_portal=portal,
            route_enforcement=bool(enforcement),
        )
        if tags:
            backend.create_tags([ep_id], tags)  # first: it refuses tags AWS would refuse
        st.endpoints[ep_id] = ep
        return {
            "ClientVpnEndpointId": ep_id,
            "Status": {"Code": "pending-associate"},
            "DnsName": ep.dns_name,
        }

    def describe_client_vpn_endpoints(self):
        with LOCK:
            backend, st = self._cv()
            ids = self._get_param("ClientVpnEndpointIds", []) or []
            for i in ids:
                self._cv_endpoint(st, i)
            eps = [e for e in visible(st.endpoints.values()) if not ids or e.id in ids]
            eps = apply_filters(
                eps,
                self._filters_from_querystring(),
                {"endpoint-id": lambda e: e.id, "transport-protocol": lambda e: e.transport},
                tags_of=lambda e: backend.tags.get(e.id, {}),
            )
            page, token = paginate(eps, self._get_param("MaxResults"), self._get_param("NextToken"))
            return ActionResult(
                {"ClientVpnEndpoints": [self._cv_endpoint_dict(backend, e) for e in page], "NextToken": token}
            )

    def modify_client_vpn_endpoint(self):
        with LOCK:
            backend, st = self._cv()
            ep = self._cv_mutable(st, self._get_param("ClientVpnEndpointId"))
            acct, region = self.current_account, self.region
            arn = self._get_param("ServerCertificateArn")
            if arn:
                check_server_cert(acct, region, arn)
            dns = self._get_param("DnsServers")
            if dns is not None:
                custom = dns.get("CustomDnsServers") or []
                if len(custom) > 2:
                    raise err("InvalidParameterValue", "A maximum of two DNS servers can be specified")
            vpc_id = self._get_param("VpcId")
            sg_ids = self._get_param("SecurityGroupIds")
            if vpc_id and vpc_id != ep.vpc_id:
                backend.get_vpc(vpc_id)
                if any(a.status != "disassociating" for a in ep.associations):
                    raise err(
                        "InvalidParameterValue",
                        "Cannot modify the VPC of a Client VPN endpoint that has target network associations",
                    )
                if not sg_ids:
                    sg_ids = self._cv_default_sg(backend, vpc_id)
            if sg_ids:
                self._cv_validate_sgs(backend, sg_ids, vpc_id or ep.vpc_id)
            port = self._get_param("VpnPort")
            if port is not None and int(port) not in (443, 1194):
                raise err("InvalidParameterValue", f"Value ({port}) for parameter VpnPort is invalid. Valid values are 443 and 1194")
            session = check_session_timeout(self._get_param("SessionTimeoutHours"))
            banner = check_banner(self._get_param("ClientLoginBannerOptions"))
            portal = check_portal(self._get_param("SelfServicePortal"), [o.get("Type") for o in ep.auth_options])
            enforcement = flag_param((self._get_param("ClientRouteEnforcementOptions") or {}).get("Enforced"))
            # all validated: apply
            if arn:
                ep.server_cert_arn = arn
            if dns is not None:
                ep.dns_servers = list(dns.get("CustomDnsServers") or []) if dns.get("Enabled", True) else []
            if vpc_id:
                ep.vpc_id = vpc_id
            if sg_ids:
                ep.sg_ids = list(sg_ids)
            if port is not None:
                ep.vpn_port = int(port)
            if self._get_param("Description") is not None:
                ep.description = self._get_param("Description")
            if self._get_param("SplitTunnel") is not None:
                ep.split_tunnel = bool(self._get_param("SplitTunnel"))
            if session is not None:
                ep.session_timeout = session
            if portal is not None:
                ep.self_service_portal = portal
            if enforcement is not None:
                ep.route_enforcement = enforcement
            log = self._get_param("ConnectionLogOptions")
            if log is not None:
                ep.log_options = {k: v for k, v in log.items() if k in ("Enabled", "CloudwatchLogGroup", "CloudwatchLogStream")}
            if banner is not None:
                ep.banner = banner
            if self._get_param("DisconnectOnSessionTimeout") is not None:
                ep.disconnect_on_timeout = flag_param(self._get_param("DisconnectOnSessionTimeout"))
            return ActionResult({"Return": True})

    def delete_client_vpn_endpoint(self):
        with LOCK:
            backend, st = self._cv()
            ep = self._cv_mutable(st, self._get_param("ClientVpnEndpointId"))
            if ep.associations:
                raise err(
                    "IncorrectState",
                    f"Client VPN endpoint {ep.id} cannot be deleted while it has target network associations",
                )
            if ep.deleting_since is None:
                ep.deleting_since = time.monotonic()
            return ActionResult({"Status": {"Code": "deleting"}})

    # -- target networks ------------------------------------------------------
    def associate_client_vpn_target_network(self):
        with LOCK:
            backend, st = self._cv()
            ep = self._cv_mutable(st, self._get_param("ClientVpnEndpointId"))
            return ActionResult(
                self._cv_idem(st, "AssociateClientVpnTargetNetwork", lambda: self._cv_associate(backend, ep))
            )

    def _cv_associate(self, backend, ep):
        subnet_id = self._get_param("SubnetId")
        subnet = backend.get_subnet(subnet_id)  # InvalidSubnetID.NotFound
        if ep.vpc_id and subnet.vpc_id != ep.vpc_id:
            raise err(
                "InvalidClientVpnSubnetId.NotFound",
                f"Subnet {subnet_id} is not in VPC {ep.vpc_id} of Client VPN endpoint {ep.id}",
            )
        live = [a for a in ep.associations if a.status != "disassociating"]
        if any(a.subnet_id == subnet_id for a in live):
            raise err(
                "InvalidClientVpnDuplicateAssociationException",
                f"Subnet {subnet_id} is already associated with Client VPN endpoint {ep.id}",
            )
        if any(a.az == subnet.availability_zone for a in live):
            raise err(
                "InvalidClientVpnSubnetId.DuplicateAz",
                f"A subnet in Availability Zone {subnet.availability_zone} is already associated with Client VPN endpoint {ep.id}",
            )
        vpc = backend.get_vpc(subnet.vpc_id)
        client = parse_cidr(ep.client_cidr)
        for vnet in vpc_cidrs(vpc):
            if vnet.overlaps(client):
                raise err(
                    "InvalidClientVpnSubnetId.OverlappingCidr",
                    f"The CIDR block {vnet} of VPC {vpc.id} overlaps with the client CIDR block {ep.client_cidr}",
                )
        if control.quotas():
            check_target_network(ep, live, subnet)
        if not ep.vpc_id:
            ep.vpc_id = subnet.vpc_id
            if not ep.sg_ids:
                ep.sg_ids = self._cv_default_sg(backend, subnet.vpc_id)
        a = Obj(
            id=rid("cvpn-assoc"),
            subnet_id=subnet_id,
            vpc_id=subnet.vpc_id,
            az=subnet.availability_zone,
            status="associating",
        )
        ep.associations.append(a)
        ep.routes.append(
            Obj(
                destination=str(vpc.cidr_block),
                subnet_id=subnet_id,
                type="Nat",
                origin="associate",
                description="Default Route",
                status="creating",
            )
        )
        return {"AssociationId": a.id, "Status": {"Code": "associating"}}

    def disassociate_client_vpn_target_network(self):
        with LOCK:
            backend, st = self._cv()
            ep = self._cv_mutable(st, self._get_param("ClientVpnEndpointId"))
            assoc_id = self._get_param("AssociationId")
            a = next((x for x in visible(ep.associations) if x.id == assoc_id), None)
            if a is None:
                raise err(
                    "InvalidClientVpnAssociationIdNotFound",
                    f"The target network association '{assoc_id}' does not exist",
                )
            if a.status != "disassociating":
                a.status, a.since = "disassociating", time.monotonic()
                for r in ep.routes:
                    if r.subnet_id == a.subnet_id and r.status != "deleting":
                        r.status, r.since = "deleting", time.monotonic()
            return ActionResult({"AssociationId": a.id, "Status": {"Code": "disassociating"}})

    def describe_client_vpn_target_networks(self):
        with LOCK:
            backend, st = self._cv()
            ep = self._cv_endpoint(st, self._get_param("ClientVpnEndpointId"))
            ids = self._get_param("AssociationIds", []) or []
            items = [a for a in visible(ep.associations) if not ids or a.id in ids]
            items = apply_filters(
                items,
                self._filters_from_querystring(),
                {
                    "association-id": lambda a: a.id,
                    "target-network-id": lambda a: a.subnet_id,
                    "vpc-id": lambda a: a.vpc_id,
                },
            )
            page, token = paginate(items, self._get_param("MaxResults"), self._get_param("NextToken"))
            return ActionResult(
                {"ClientVpnTargetNetworks": [self._cv_assoc_dict(ep, a) for a in page], "NextToken": token}
            )

    # -- authorization rules --------------------------------------------------
    def authorize_client_vpn_ingress(self):
        with LOCK:
            backend, st = self._cv()
            ep = self._cv_mutable(st, self._get_param("ClientVpnEndpointId"))
            return ActionResult(self._cv_idem(st, "AuthorizeClientVpnIngress", lambda: self._cv_authorize(ep)))

    def _cv_authorize(self, ep):
        cidr = self._get_param("TargetNetworkCidr")
        parse_cidr(cidr, "TargetNetworkCidr")
        group = self._get_param("AccessGroupId")
        all_groups = bool(self._get_param("AuthorizeAllGroups", False))
        if bool(group) == all_groups:
            raise err(
                "InvalidParameterValue",
                "Specify either AccessGroupId or AuthorizeAllGroups, but not both",
            )
        for r in ep.rules:
            if r.status != "revoking" and r.cidr == cidr and r.group == group and r.access_all == all_groups:
                raise err(
                    "InvalidClientVpnDuplicateAuthorizationRule",
                    f"An authorization rule for {cidr} already exists on Client VPN endpoint {ep.id}",
                )
        if control.quotas() and len(ep.rules) >= RULES_PER_ENDPOINT:
            raise err(
                "ClientVpnAuthorizationRuleLimitExceeded",
                f"You've reached the limit of {RULES_PER_ENDPOINT} authorization rules on Client VPN endpoint {ep.id}",
            )
        ep.rules.append(
            Obj(cidr=cidr, group=group, access_all=all_groups, description=self._get_param("Description"), status="authorizing")
        )
        return {"Status": {"Code": "authorizing"}}

    def revoke_client_vpn_ingress(self):
        with LOCK:
            backend, st = self._cv()
            ep = self._cv_mutable(st, self._get_param("ClientVpnEndpointId"))
            cidr = self._get_param("TargetNetworkCidr")
            group = self._get_param("AccessGroupId")
            all_groups = bool(self._get_param("RevokeAllGroups", False))
            rule = next(
                (
                    r
                    for r in visible(ep.rules)
                    if r.status != "revoking" and r.cidr == cidr
                    and ((all_groups and r.access_all) or (group and r.group == group))
                ),
                None,
            )
            if rule is None:
                raise err(
                    "InvalidClientVpnEndpointAuthorizationRuleNotFound",
                    f"No authorization rule for {cidr} found on Client VPN endpoint {ep.id}",
                )
            rule.status, rule.since = "revoking", time.monotonic()
            return ActionResult({"Status": {"Code": "revoking"}})

    def describe_client_vpn_authorization_rules(self):
        with LOCK:
            backend, st = self._cv()
            ep = self._cv_endpoint(st, self._get_param("ClientVpnEndpointId"))
            items = apply_filters(
                visible(ep.rules),
                self._filters_from_querystring(),
                {
                    "description": lambda r: r.description,
                    "destination-cidr": lambda r: r.cidr,
                    "group-id": lambda r: r.group,
                },
            )
            page, token = paginate(items, self._get_param("MaxResults"), self._get_param("NextToken"))
            rules = [
                {
                    "ClientVpnEndpointId": ep.id,
                    "Description": r.description,
                    "GroupId": r.group or "",
                    "AccessAll": r.access_all,
                    "DestinationCidr": r.cidr,
                    "Status": {"Code": r.status},
                }
                for r in page
            ]
            return ActionResult({"AuthorizationRules": rules, "NextToken": token})

    # -- routes ---------------------------------------------------------------
    def create_client_vpn_route(self):
        with LOCK:
            backend, st = self._cv()
            ep = self._cv_mutable(st, self._get_param("ClientVpnEndpointId"))
            return ActionResult(self._cv_idem(st, "CreateClientVpnRoute", lambda: self._cv_route(backend, ep)))

    def _cv_route(self, backend, ep):
        dest = self._get_param("DestinationCidrBlock")
        parse_cidr(dest, "DestinationCidrBlock")
        subnet_id = self._get_param("TargetVpcSubnetId")
        backend.get_subnet(subnet_id)
        if not any(a.subnet_id == subnet_id and a.status != "disassociating" for a in visible(ep.associations)):
            raise err(
                "InvalidClientVpnActiveAssociationNotFound",
                f"Subnet {subnet_id} is not associated with Client VPN endpoint {ep.id}",
            )
        for r in ep.routes:
            if r.status != "deleting" and r.destination == dest and r.subnet_id == subnet_id:
                raise err(
                    "InvalidClientVpnDuplicateRoute",
                    f"Route {dest} via {subnet_id} already exists on Client VPN endpoint {ep.id}",
                )
        if control.quotas() and sum(r.subnet_id == subnet_id for r in ep.routes) >= ROUTES_PER_ASSOCIATION:
            raise err(
                "ClientVpnRouteLimitExceeded",
                f"You've reached the limit of {ROUTES_PER_ASSOCIATION} routes for target network {subnet_id} "
                f"on Client VPN endpoint {ep.id}",
            )
        ep.routes.append(
            Obj(
                destination=dest,
                subnet_id=subnet_id,
                type="Nat",
                origin="add-route",
                description=self._get_param("Description"),
                status="creating",
            )
        )
        return {"Status": {"Code": "creating"}}

    def delete_client_vpn_route(self):
        with LOCK:
            backend, st = self._cv()
            ep = self._cv_mutable(st, self._get_param("ClientVpnEndpointId"))
            dest = self._get_param("DestinationCidrBlock")
            subnet_id = self._get_param("TargetVpcSubnetId")
            route = next(
                (
                    r
                    for r in visible(ep.routes)
                    if r.status != "deleting" and r.destination == dest and (not subnet_id or r.subnet_id == subnet_id)
                ),
                None,
            )
            if route is None:
                raise err("InvalidClientVpnRouteNotFound", f"Route {dest} not found on Client VPN endpoint {ep.id}")
            route.status, route.since = "deleting", time.monotonic()
            return ActionResult({"Status": {"Code": "deleting"}})

    def describe_client_vpn_routes(self):
        with LOCK:
            backend, st = self._cv()
            ep = self._cv_endpoint(st, self._get_param("ClientVpnEndpointId"))
            items = apply_filters(
                visible(ep.routes),
                self._filters_from_querystring(),
                {
                    "destination-cidr": lambda r: r.destination,
                    "origin": lambda r: r.origin,
                    "target-subnet": lambda r: r.subnet_id,
                },
            )
            page, token = paginate(items, self._get_param("MaxResults"), self._get_param("NextToken"))
            routes = [
                {
                    "ClientVpnEndpointId": ep.id,
                    "DestinationCidr": r.destination,
                    "TargetSubnet": r.subnet_id,
                    "Type": r.type,
                    "Origin": r.origin,
                    "Status": {"Code": r.status},
                    "Description": r.description,
                }
                for r in page
            ]
            return ActionResult({"Routes": routes, "NextToken": token})

    # -- configuration / CRL --------------------------------------------------
    def export_client_vpn_client_configuration(self):
        with LOCK:
            backend, st = self._cv()
            ep = self._cv_endpoint(st, self._get_param("ClientVpnEndpointId"))
            from moto.acm.models import acm_backends

            bundle = acm_backends[self.current_account][self.region]._certificates.get(ep.server_cert_arn)
            chain = original_chain(bundle) if bundle is not None else ""
            name = cert_domain(bundle._cert) if bundle is not None else None
            host = ep.dns_name[2:] if ep.dns_name.startswith("*.") else ep.dns_name
            lines = [
                "client",
                "dev tun",
                f"proto {ep.transport}",
                f"remote {host} {ep.vpn_port}",
                "remote-random-hostname",
                "resolv-retry infinite",
                "nobind",
                "remote-cert-tls server",
                "cipher AES-256-GCM",
                "verb 3",
                "<ca>",
                chain,
                "</ca>",
                "",
                "",
                "reneg-sec 0",
                "",
            ]
            if name:
                lines += [f"verify-x509-name {name} name", ""]
            # What the AWS-provided client needs to sign in besides the certificate: a browser
            # for SAML (`auth-federate`, admin guide "Troubleshooting: client does not open
            # browser"), a user name and password for Active Directory.
            types = {o.get("Type") for o in ep.auth_options}
            if "federated-authentication" in types:
                lines += ["auth-user-pass", "auth-federate", "auth-retry interact", ""]
            elif "directory-service-authentication" in types:
                lines += ["auth-user-pass", ""]
            return ActionResult({"ClientConfiguration": "\n".join(lines)})

    def import_client_vpn_client_certificate_revocation_list(self):
        with LOCK:
            backend, st = self._cv()
            ep = self._cv_mutable(st, self._get_param("ClientVpnEndpointId"))
            crl = self._get_param("CertificateRevocationList") or ""
            try:
                entries = len(x509.load_pem_x509_crl(crl.encode()))
            except Exception:
                raise err("InvalidParameterValue", "The certificate revocation list is not valid PEM")
            if control.quotas() and entries > CRL_ENTRIES:
                raise err(
                    "ClientVpnCertificateRevocationListLimitExceeded",
                    f"The certificate revocation list has {entries} entries; the limit is {CRL_ENTRIES}",
                )
            ep.crl = crl
            # "Uploading a client certificate revocation list resets existing client connections."
            for c in ep.connections:
                terminate(c)
            return ActionResult({"Return": True})

    def export_client_vpn_client_certificate_revocation_list(self):
        with LOCK:
            backend, st = self._cv()
            ep = self._cv_endpoint(st, self._get_param("ClientVpnEndpointId"))
            if ep.crl is None:
                return ActionResult({})
            return ActionResult({"CertificateRevocationList": ep.crl, "Status": {"Code": "active"}})

    # -- connections ----------------------------------------------------------
    def describe_client_vpn_connections(self):
        with LOCK:
            backend, st = self._cv()
            ep = self._cv_endpoint(st, self._get_param("ClientVpnEndpointId"))
            items = apply_filters(
                list(ep.connections),
                self._filters_from_querystring(),
                {"connection-id": lambda c: c.id, "username": lambda c: c.username},
            )
            page, token = paginate(items, self._get_param("MaxResults"), self._get_param("NextToken"))
            return ActionResult({"Connections": [connection_dict(ep, c) for c in page], "NextToken": token})

    def terminate_client_vpn_connections(self):
        with LOCK:
            backend, st = self._cv()
            ep = self._cv_endpoint(st, self._get_param("ClientVpnEndpointId"))
            conn_id = self._get_param("ConnectionId")
            username = self._get_param("Username")
            if not conn_id and not username:
                raise err("MissingParameter", "Either ConnectionId or Username must be specified")
            if conn_id:
                targets = [c for c in ep.connections if c.id == conn_id]
                if not targets:
                    raise err(
                        "InvalidClientVpnConnection.IdNotFound",
                        f"The connection ID '{conn_id}' does not exist",
                    )
            else:
                targets = [c for c in ep.connections if c.username == username and c.status == "active"]
                if not targets:
                    raise err(
                        "InvalidClientVpnConnection.UserNotFound",
                        f"User {username} does not have an active connection to Client VPN endpoint {ep.id}",
                    )
            statuses = []
            for c in targets:
                prev = terminate(c)
                statuses.append(
                    {"ConnectionId": c.id, "PreviousStatus": {"Code": prev}, "CurrentStatus": {"Code": c.status}}
                )
            result = {"ClientVpnEndpointId": ep.id, "ConnectionStatuses": statuses}
            if username:
                result["Username"] = username
            return ActionResult(result)


def connection_dict(ep, c):
    # AWS: Username "is only provided if Active Directory client authentication is used";
    # with certificate authentication the client is known by its certificate's CommonName.
    d = {"Username": c.username} if c.username else {}
    return d | {
        "ClientVpnEndpointId": ep.id,
        "Timestamp": now_str(),
        "ConnectionId": c.id,
        "ConnectionEstablishedTime": c.established,
        "IngressBytes": "0",
        "EgressBytes": "0",
        "IngressPackets": "0",
        "EgressPackets": "0",
        "ClientIp": c.client_ip,
        "CommonName": c.common_name,
        "Status": {"Code": c.status},
        "ConnectionEndTime": c.end_time or "-",
    }


def add_connection(body: dict) -> dict:
    """Control API: add an active connection to an endpoint."""
    from moto.ec2.models import ec2_backends

    account = body.get("account_id") or "123456789012"
    region = body.get("region") or "us-east-1"
    ep_id = body.get("client_vpn_endpoint_id")
    with LOCK:
        backend = ec2_backends[account][region]
        settle(backend)
        ep = get_state(backend).endpoints.get(ep_id)
        if ep is None:
            raise LookupError(f"Client VPN endpoint {ep_id} not found in {account}/{region}")
        established = body.get("connection_established_time")
        if established:
            established = (
                datetime.datetime.fromisoformat(established.replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M:%S")
            )
        # With certificate authentication (vpnctl's) AWS reports no Username, only the
        # certificate's CommonName; a user name is kept only for directory/SAML endpoints.
        user_auth = any(
            o.get("Type") in ("directory-service-authentication", "federated-authentication")
            for o in ep.auth_options
        )
        c = Obj(
            id=rid("cvpn-connection"),
            common_name=body.get("common_name") or body.get("username") or "",
            username=(body.get("username") or "") if user_auth else "",
            client_ip=body.get("client_ip") or "",
            established=established or now_str(),
            status="active",
            end_time=None,
        )
        ep.connections.append(c)
        return {"connection_id": c.id, "client_vpn_endpoint_id": ep.id, "status": "active"}


def install():
    from moto.ec2 import responses as ec2_responses
    from moto.ec2 import utils as ec2_utils

    from .hooks import require

    EC2Response = require(ec2_responses, "EC2Response")
    for attr in ("_get_param", "_get_params", "_filters_from_querystring", "ec2_backend", "error_on_dryrun"):
        require(EC2Response, attr)
    for name, fn in vars(ClientVpnResponse).items():
        if callable(fn) and not name.startswith("__"):
            setattr(EC2Response, name, fn)

    # tag machinery: register the cvpn-endpoint prefix
    prefixes = require(ec2_utils, "EC2_RESOURCE_TO_PREFIX")
    reverse = require(ec2_utils, "EC2_PREFIX_TO_RESOURCE")
    prefixes["client-vpn-endpoint"] = "cvpn-endpoint"
    reverse["cvpn-endpoint"] = "client-vpn-endpoint"
    import moto.ec2.models as ec2_models
    import moto.ec2.models.tags as ec2_tags

    original = require(ec2_utils, "get_prefix")

    def get_prefix(resource_id: str) -> str:
        if resource_id.startswith("cvpn-endpoint-"):
            return "cvpn-endpoint"
        return original(resource_id)

    for mod in (ec2_utils, ec2_models, ec2_tags):
        require(mod, "get_prefix")
        mod.get_prefix = get_prefix

    # CreateTags on a cvpn-endpoint id checks the endpoint exists
    EC2Backend = require(ec2_models, "EC2Backend")
    orig_exist = require(EC2Backend, "do_resources_exist")

    def do_resources_exist(self, resource_ids):
        settle(self)
        st = get_state(self)
        known = {e.id for e in visible(st.endpoints.values())}
        for r in resource_ids:
            if r.startswith("cvpn-endpoint-") and r not in known:
                raise err("InvalidClientVpnEndpointId.NotFound", f"The Client VPN endpoint ID '{r}' does not exist")
        return orig_exist(self, [r for r in resource_ids if not r.startswith("cvpn-endpoint-")])

    EC2Backend.do_resources_exist = do_resources_exist
    require(EC2Backend, "get_security_group_from_id")
    require(EC2Backend, "get_default_security_group")
    require(EC2Backend, "get_subnet")
    require(EC2Backend, "get_vpc")
    require(EC2Backend, "create_tags")
