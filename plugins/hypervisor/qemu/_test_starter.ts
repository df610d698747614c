/**
 * Test helper process: starts a VM for the test guest in the state directory given as the first
 * argument, prints its {@link VmState} as one JSON line, then idles until killed. Used to prove
 * that a VM outlives the process that started it and can be re-attached.
 *
 * @module
 */
import { testHypervisor, testVmConfig } from "./_test_util.ts";

const [name] = Deno.args;
if (name === undefined) throw new Error("usage: _test_starter.ts <sandbox-id>");
const cfg = await testVmConfig(name);
const vm = await testHypervisor().createVm(cfg);
await vm.start();
await Deno.stdout.write(new TextEncoder().encode(JSON.stringify(vm.saveState()) + "\n"));
setInterval(() => {}, 60_000);
