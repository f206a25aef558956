/**
 * The testbed: a real Open vSwitch data plane (ovsdb-server + ovs-vswitchd per
 * compute host, VMs as network namespaces) on one machine, usable as the
 * simulated cloud's hypervisor hook.
 */
export { TestbedError, type TestbedErrorCode } from './errors.ts';
export {
  checkTestbedPrerequisites,
  startTestbedHosts,
  type OwnedResources,
  type TestbedHostInfo,
  type TestbedHosts,
  type TestbedOptions,
  type TestbedPort,
  type TestbedServer,
  type TestbedVm,
} from './hosts.ts';
