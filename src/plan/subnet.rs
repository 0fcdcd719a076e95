//! Desired Azure resources of a ComputeSubnet (filled in with the NSG rules).
