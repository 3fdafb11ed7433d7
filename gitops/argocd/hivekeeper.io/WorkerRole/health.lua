-- Argo CD health check for hivekeeper.io Swarm and WorkerRole (the two files are identical; a test keeps them so).
-- It reads what the hivekeeper operator writes: status.observedGeneration and the metav1 conditions Ready,
-- Reconciling, Stalled, ConfigApplied and Paused, each with its own observedGeneration (docs/gitops.md).
--   Progressing  being deleted; no status yet; the current generation not yet observed; Reconciling=True;
--                the config not yet acknowledged by every worker
--   Degraded     Stalled=True (pod failures, a missing Secret, a broker outage), or ConfigApplied=False with
--                reason WorkerRejectedConfig (a worker refused the edit and keeps its old config), or a bounded
--                run (spec.run) that failed: Completed=True with reason Failed, the failed thresholds named
--   Progressing  also while a bounded run is pending or running (Completed=False)
--   Healthy      also a bounded run that passed (Completed=True, reason Passed)
--   Suspended    Paused=True (work disabled; pods, queues and data stay) once the pause is applied
--   Healthy      Ready=True for the current generation
-- Lua 5.1 as Argo CD runs it: no os, io or require.
local hs = {}

local function find(conditions, wanted)
  for _, condition in ipairs(conditions) do
    if condition.type == wanted then
      return condition
    end
  end
  return nil
end

local function is(condition, value)
  return condition ~= nil and condition.status == value
end

local function message(condition, fallback)
  if condition ~= nil and condition.message ~= nil and condition.message ~= "" then
    return condition.message
  end
  return fallback
end

local function result(status, text)
  hs.status = status
  hs.message = text
  return hs
end

local metadata = obj.metadata or {}
if metadata.deletionTimestamp ~= nil then
  return result("Progressing", "Pending deletion")
end

local status = obj.status
if status == nil or status.conditions == nil or #status.conditions == 0 then
  return result("Progressing", "Waiting for the hivekeeper operator to report status")
end

local generation = metadata.generation
if generation ~= nil and status.observedGeneration ~= nil and status.observedGeneration ~= generation then
  return result("Progressing", "Waiting for the hivekeeper operator to reconcile generation " .. tostring(generation)
    .. " (status is of generation " .. tostring(status.observedGeneration) .. ")")
end

local conditions = status.conditions
local ready = find(conditions, "Ready")
if generation ~= nil and ready ~= nil and ready.observedGeneration ~= nil and ready.observedGeneration ~= 0
    and ready.observedGeneration ~= generation then
  return result("Progressing", "Waiting for the status of generation " .. tostring(generation))
end

local config = find(conditions, "ConfigApplied")
if is(config, "False") and config.reason == "WorkerRejectedConfig" then
  return result("Degraded", message(config, "A worker rejected the config"))
end

local stalled = find(conditions, "Stalled")
if is(stalled, "True") then
  return result("Degraded", message(stalled, "Stalled"))
end

-- A Swarm with spec.run: the run's verdict is the object's health once the run ended (only Swarms have it).
local completed = find(conditions, "Completed")
if is(completed, "True") and completed.reason == "Failed" then
  return result("Degraded", message(completed, "The run failed"))
end
if is(completed, "True") then
  return result("Healthy", message(completed, "The run passed"))
end
if is(completed, "False") then
  return result("Progressing", message(completed, "The run has not ended yet"))
end

local reconciling = find(conditions, "Reconciling")
if is(reconciling, "True") then
  return result("Progressing", message(reconciling, message(ready, "Reconciling")))
end

local paused = find(conditions, "Paused")
if is(paused, "True") then
  return result("Suspended", message(paused, "Paused"))
end

if is(ready, "True") then
  return result("Healthy", message(ready, "Ready"))
end

if config ~= nil and config.status ~= "True" then
  return result("Progressing", message(config, "Waiting for the workers to apply the config"))
end
return result("Progressing", message(ready, "Waiting for the Ready condition"))
