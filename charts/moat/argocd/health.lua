-- Argo CD health check for moat.dev/v1alpha1 SecureWorkspace, PrivateEndpointBinding and
-- ComputeSubnet (one script for the three kinds). Lua 5.1, as Argo CD's gopher-lua runs it.
--
-- It reads the object's Ready condition. The reason table below is the registry
-- moat::controller::conditions::ReadyReason (`health()`); tests/argocd_health.rs fails when the
-- two disagree, so a reason added to moat without a line here cannot ship.
local hs = {}

-- BEGIN reasons (ReadyReason::health)
local reasons = {
  Converged = "Healthy",
  Converging = "Progressing",
  WaitingForDependency = "Progressing",
  Deleting = "Progressing",
  ConstraintViolation = "Degraded",
  InvalidSpec = "Degraded",
  WorkspaceNotFound = "Degraded",
  OutOfScope = "Degraded",
  CredentialsUnavailable = "Degraded",
  NotOwned = "Degraded",
  AdoptedResourceMissing = "Degraded",
  AzureError = "Degraded",
  AwaitingApproval = "Progressing",
  Paused = "Suspended",
}
-- END reasons

local function text(v)
  if v == nil then
    return ""
  end
  return tostring(v)
end

local function with_reason(reason, message)
  if message == nil or message == "" then
    return text(reason)
  end
  return text(reason) .. ": " .. text(message)
end

if obj.status == nil or obj.status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for moat to report status"
  return hs
end

local ready = nil
local constraints = nil
for _, c in ipairs(obj.status.conditions) do
  if c.type == "Ready" then
    ready = c
  elseif c.type == "ConstraintsSatisfied" then
    constraints = c
  end
end
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition"
  return hs
end

local health = reasons[text(ready.reason)]

-- Paused on purpose: moat does not observe new generations while paused.
if health == "Suspended" then
  hs.status = "Suspended"
  hs.message = with_reason(ready.reason, ready.message)
  return hs
end

-- A condition about an older generation says nothing about the current spec.
local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end
if generation ~= nil then
  local seen = ready.observedGeneration
  if seen == nil then
    seen = obj.status.observedGeneration
  end
  if seen ~= nil and seen < generation then
    hs.status = "Progressing"
    hs.message = "Waiting for moat to observe generation " .. text(generation) .. " (status is for generation " .. text(seen) .. ")"
    return hs
  end
end

-- An Error finding of the constraint catalog holds back writes until a person fixes the spec,
-- whatever the Ready reason says about the writes still under way.
if constraints ~= nil and constraints.status == "False" then
  local cg = constraints.observedGeneration
  if generation == nil or cg == nil or cg >= generation then
    hs.status = "Degraded"
    hs.message = with_reason(constraints.reason, constraints.message)
    return hs
  end
end

if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = with_reason(ready.reason, ready.message)
  return hs
end

if health == nil then
  hs.status = "Degraded"
  hs.message = "Unknown Ready reason " .. with_reason(ready.reason, ready.message)
  return hs
end

if health == "Healthy" then
  -- A Healthy reason on a Ready condition that is not True: still converging.
  health = "Progressing"
end
hs.status = health
hs.message = with_reason(ready.reason, ready.message)
return hs
