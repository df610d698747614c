import assert from "node:assert/strict";
import {
  canCreateContainer,
  canDelete,
  canDeleteSandbox,
  canExec,
  canKill,
  canPause,
  canPauseSandbox,
  canResume,
  canResumeSandbox,
  canStart,
  type ContainerStatus,
  isAlive,
  refuse,
  type SandboxStatus,
} from "./status.ts";

const T = "2026-01-01T00:00:00.000Z";
const containers: Record<ContainerStatus["kind"], ContainerStatus> = {
  creating: { kind: "creating", since: T },
  created: { kind: "created", pid: 5 },
  running: { kind: "running", pid: 5, startedAt: T },
  paused: { kind: "paused", pid: 5, startedAt: T },
  stopped: { kind: "stopped", pid: 5, exitStatus: 0, exitedAt: T },
};
const sandboxes: Record<SandboxStatus["kind"], SandboxStatus> = {
  creating: { kind: "creating", since: T },
  ready: { kind: "ready", startedAt: T },
  paused: { kind: "paused", startedAt: T, pausedAt: T },
  stopped: { kind: "stopped", stoppedAt: T, reason: "x" },
};

/** The kinds for which `guard` says yes. */
function allowed<S extends { kind: string }>(all: Record<string, S>, guard: (s: S) => boolean): string[] {
  return Object.values(all).filter(guard).map((s) => s.kind);
}

Deno.test({
  name: "container guards allow each operation only in the states runc allows it",
  permissions: "none",
  fn() {
    assert.deepEqual(allowed(containers, canStart), ["created"]);
    assert.deepEqual(allowed(containers, canKill), ["created", "running", "paused"]);
    assert.deepEqual(allowed(containers, canPause), ["running"]);
    assert.deepEqual(allowed(containers, canResume), ["paused"]);
    assert.deepEqual(allowed(containers, canExec), ["running"]);
    assert.deepEqual(allowed(containers, (s) => canDelete(s)), ["created", "stopped"]);
    assert.deepEqual(allowed(containers, (s) => canDelete(s, { force: true })), Object.keys(containers));
    assert.deepEqual(allowed(containers, isAlive), ["created", "running", "paused"]);
  },
});

Deno.test({
  name:
    "sandbox guards allow containers only when ready and delete only without live containers unless forced",
  permissions: "none",
  fn() {
    assert.deepEqual(allowed(sandboxes, canCreateContainer), ["ready"]);
    assert.deepEqual(allowed(sandboxes, canPauseSandbox), ["ready"]);
    assert.deepEqual(allowed(sandboxes, canResumeSandbox), ["paused"]);
    assert.deepEqual(allowed(sandboxes, (s) => canDeleteSandbox(s)), ["ready", "paused", "stopped"]);
    assert.deepEqual(allowed(sandboxes, (s) => canDeleteSandbox(s, { liveContainers: 1 })), ["stopped"]);
    assert.deepEqual(
      allowed(sandboxes, (s) => canDeleteSandbox(s, { force: true, liveContainers: 3 })),
      Object.keys(sandboxes),
    );
  },
});

Deno.test({
  name: "refuse() names the operation, the object and its state",
  permissions: "none",
  fn() {
    const e = refuse("start", 'container "c1"', containers.running);
    assert.equal(e.code, "FailedPrecondition");
    assert.equal(e.message, 'Cannot start container "c1": it is running');
    assert.equal(
      refuse("delete", 'sandbox "s"', sandboxes.ready, "use force").message,
      'Cannot delete sandbox "s": it is ready: use force',
    );
  },
});
