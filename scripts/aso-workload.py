#!/usr/bin/env python3
"""The Azure Service Operator v2 workload of scripts/bench-aso.sh, as YAML on stdout.

What a secure Azure ML network needs and ASO can express: a resource group, a VNet with a
private-endpoint subnet and a compute subnet, an NSG with the compute subnet's documented rules,
a route table with its routes, a private endpoint to a storage account, the privatelink zone
with a VNet link and the endpoint's zone group. ASO runs without webhooks (no cert-manager), so
the objects are written in their storage versions with `azureName` and `originalVersion` set.

    aso-workload.py SUBSCRIPTION     # the objects
    aso-workload.py --kinds          # the kinds, for kubectl get
"""

import json
import sys

NS = "aso-bench"
NET = "network.azure.com"
KINDS = [
    "resourcegroups.resources.azure.com",
    "virtualnetworks.network.azure.com",
    "virtualnetworkssubnets.network.azure.com",
    "networksecuritygroups.network.azure.com",
    "networksecuritygroupssecurityrules.network.azure.com",
    "routetables.network.azure.com",
    "routetablesroutes.network.azure.com",
    "privateendpoints.network.azure.com",
    "privatednszones.network.azure.com",
    "privatednszonesvirtualnetworklinks.network.azure.com",
    "privateendpointsprivatednszonegroups.network.azure.com",
]

# The compute subnet's rules and routes, as moat's ComputeSubnet sample gets them (src/netrules.rs).
RULES = [
    ("batch-inbound", 300, "Inbound", "Tcp", "BatchNodeManagement", "29876-29877"),
    ("aml-inbound", 301, "Inbound", "Tcp", "AzureMachineLearning", "44224"),
    ("aml-outbound", 310, "Outbound", "Tcp", "AzureMachineLearning", "443"),
    ("storage-outbound", 311, "Outbound", "Tcp", "Storage.westeurope", "443"),
    ("keyvault-outbound", 312, "Outbound", "Tcp", "AzureKeyVault", "443"),
    ("acr-outbound", 313, "Outbound", "Tcp", "AzureContainerRegistry", "443"),
]
ROUTES = [
    ("batch", "BatchNodeManagement", "Internet"),
    ("aml", "AzureMachineLearning", "Internet"),
]


def obj(api, kind, name, spec):
    return {"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": NS}, "spec": spec}


def net(kind, name, version, owner, **spec):
    v = version
    return obj(f"{NET}/{v}storage", kind, name, {"azureName": spec.pop("azureName", name), "originalVersion": v, "owner": {"name": owner}, **spec})


def ref(kind, name):
    return {"reference": {"group": NET, "kind": kind, "name": name}}


def workload(sub):
    loc = "westeurope"
    v = "v20250301"
    dns = "v1api20240601"
    storage = f"/subscriptions/{sub}/resourceGroups/rg-data/providers/Microsoft.Storage/storageAccounts/stbenchtarget"
    out = [
        obj("resources.azure.com/v1api20200601storage", "ResourceGroup", "rg-aso", {"azureName": "rg-aso", "originalVersion": "v1api20200601", "location": loc}),
        net("VirtualNetwork", "vnet-aso", v, "rg-aso", location=loc, addressSpace={"addressPrefixes": ["10.30.0.0/16"]}),
        net("VirtualNetworksSubnet", "snet-pe", v, "vnet-aso", addressPrefix="10.30.0.0/24"),
        net("NetworkSecurityGroup", "nsg-aso", v, "rg-aso", location=loc),
        net("RouteTable", "rt-aso", v, "rg-aso", location=loc),
        net(
            "VirtualNetworksSubnet",
            "snet-train",
            v,
            "vnet-aso",
            addressPrefix="10.30.1.0/24",
            networkSecurityGroup=ref("NetworkSecurityGroup", "nsg-aso"),
            routeTable=ref("RouteTable", "rt-aso"),
        ),
        net(
            "PrivateEndpoint",
            "pe-aso",
            v,
            "rg-aso",
            location=loc,
            subnet=ref("VirtualNetworksSubnet", "snet-pe"),
            privateLinkServiceConnections=[{"name": "blob", "groupIds": ["blob"], "privateLinkServiceReference": {"armId": storage}}],
        ),
        net("PrivateDnsZone", "privatelink.blob.core.windows.net", dns, "rg-aso", location="global"),
        net(
            "PrivateDnsZonesVirtualNetworkLink",
            "link-aso",
            dns,
            "privatelink.blob.core.windows.net",
            location="global",
            registrationEnabled=False,
            virtualNetwork=ref("VirtualNetwork", "vnet-aso"),
        ),
        net(
            "PrivateEndpointsPrivateDnsZoneGroup",
            "default",
            v,
            "pe-aso",
            privateDnsZoneConfigs=[{"name": "blob", "privateDnsZoneReference": {"group": NET, "kind": "PrivateDnsZone", "name": "privatelink.blob.core.windows.net"}}],
        ),
    ]
    for name, prio, direction, proto, tag, port in RULES:
        inbound = direction == "Inbound"
        out.append(
            net(
                "NetworkSecurityGroupsSecurityRule",
                f"nsg-aso-{name}",
                v,
                "nsg-aso",
                azureName=name,
                priority=prio,
                direction=direction,
                access="Allow",
                protocol=proto,
                sourceAddressPrefix=tag if inbound else "VirtualNetwork",
                sourcePortRange="*",
                destinationAddressPrefix="VirtualNetwork" if inbound else tag,
                destinationPortRange=port,
            )
        )
    for name, prefix, hop in ROUTES:
        out.append(net("RouteTablesRoute", f"rt-aso-{name}", v, "rt-aso", azureName=name, addressPrefix=prefix, nextHopType=hop))
    return out


def main():
    if sys.argv[1:] == ["--kinds"]:
        print(",".join(KINDS))
        return
    for o in workload(sys.argv[1]):
        print("---")
        print(json.dumps(o))


if __name__ == "__main__":
    main()
