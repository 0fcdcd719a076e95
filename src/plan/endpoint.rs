//! Desired Azure resources of a PrivateEndpointBinding (filled in with the DNS work).
