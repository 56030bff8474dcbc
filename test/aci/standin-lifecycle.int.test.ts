import { afterAll, describe, expect, it } from 'vitest';
import { aciClient, engineObjects, eventually, groupName, sandboxGroup, standin } from './support.js';

describe('container group lifecycle through the real Azure SDK, against the ACI stand-in', () => {
  const client = aciClient();
  const rg = (): string => standin().resourceGroup;
  const made: string[] = [];
  afterAll(async () => {
    await Promise.all(made.map((n) => client.containerGroups.beginDeleteAndWait(rg(), n).catch(() => undefined)));
  });
  const track = (n: string): string => {
    made.push(n);
    return n;
  };

  it('creates a group from a Warden image as a long-running operation (201 Pending, polled to Succeeded) against the ACI stand-in', async () => {
    const name = track(groupName('create'));
    const poller = await client.containerGroups.beginCreateOrUpdate(rg(), name, sandboxGroup({ command: ['sh', '-c', 'echo started; exec sleep infinity'] }));
    expect(poller.getOperationState().status).toBe('running');
    const g = await poller.pollUntilDone();
    expect(g.provisioningState).toBe('Succeeded');
    expect(g.id).toBe(`/subscriptions/${standin().subscriptionId}/resourceGroups/${rg()}/providers/Microsoft.ContainerInstance/containerGroups/${name}`);
    const got = await client.containerGroups.get(rg(), name);
    expect(got.instanceView?.state).toBe('Running');
    const c = got.containers[0]!;
    expect(c.instanceView?.currentState?.state).toBe('Running');
    expect(c.instanceView?.events?.map((e) => e.name)).toEqual(expect.arrayContaining(['Pulled', 'Created', 'Started']));
    expect(got.imageRegistryCredentials?.[0]).not.toHaveProperty('password'); // secrets never come back
    expect(await engineObjects(name)).toHaveLength(2); // the group's network holder and its container
  });

  it('returns logs (stdout and stderr merged, tail honoured) against the ACI stand-in', async () => {
    const name = track(groupName('logs'));
    await client.containerGroups.beginCreateOrUpdateAndWait(rg(), name, sandboxGroup({ command: ['sh', '-c', 'echo one; echo two >&2; echo three; exec sleep infinity'] }));
    // the container's first lines may not be written yet when provisioning ends: wait for them
    const content = await eventually(async () => (await client.containers.listLogs(rg(), name, 'sandbox')).content ?? '', (c) => c.split('\n').filter(Boolean).length === 3, 'the log lines');
    // two pipes: ACI (like the engine) keeps each stream's order, not the order across them
    expect(content.split('\n').filter(Boolean).sort()).toEqual(['one', 'three', 'two']);
    expect(content.indexOf('one')).toBeLessThan(content.indexOf('three'));
    // the tail is the end of the same log (stderr's line may land after stdout's last one)
    expect((await client.containers.listLogs(rg(), name, 'sandbox', { tail: 1 })).content).toBe(`${content.split('\n').filter(Boolean).pop()}\n`);
  });

  it('stops (synchronous), starts (long-running) and restarts a group against the ACI stand-in', async () => {
    const name = track(groupName('stop'));
    await client.containerGroups.beginCreateOrUpdateAndWait(rg(), name, sandboxGroup({ restartPolicy: 'Always' }));
    await client.containerGroups.stop(rg(), name);
    const stopped = await client.containerGroups.get(rg(), name);
    expect(stopped.instanceView?.state).toBe('Stopped');
    expect(stopped.containers[0]!.instanceView).toBeUndefined(); // deallocated: no instance view
    await client.containerGroups.beginStartAndWait(rg(), name);
    const started = await client.containerGroups.get(rg(), name);
    expect(started.instanceView?.state).toBe('Running');
    const before = started.containers[0]!.instanceView!.restartCount!;
    await client.containerGroups.beginRestartAndWait(rg(), name);
    const restarted = await client.containerGroups.get(rg(), name);
    expect(restarted.containers[0]!.instanceView!.restartCount).toBeGreaterThanOrEqual(before);
    expect(restarted.containers[0]!.instanceView!.currentState!.state).toBe('Running');
    expect(new Date(restarted.containers[0]!.instanceView!.currentState!.startTime!).getTime()).toBeGreaterThan(new Date(started.containers[0]!.instanceView!.currentState!.startTime!).getTime());
  });

  it('reports a command that exits 3 under restartPolicy Never as Terminated with its exit code against the ACI stand-in', async () => {
    const name = track(groupName('exit'));
    await client.containerGroups.beginCreateOrUpdateAndWait(rg(), name, sandboxGroup({ command: ['sh', '-c', 'exit 3'], restartPolicy: 'Never' }));
    const g = await eventually(() => client.containerGroups.get(rg(), name), (x) => x.instanceView?.state !== 'Running' && x.instanceView?.state !== 'Pending', 'the command to end');
    expect(g.instanceView?.state).toBe('Failed');
    expect(g.containers[0]!.instanceView?.currentState).toMatchObject({ state: 'Terminated', exitCode: 3, detailStatus: 'Error' });
  });

  it('gives a group with ports an address the host reaches, and its containers share localhost, against the ACI stand-in', async () => {
    const s = standin();
    const name = track(groupName('ip'));
    const server = "require('http').createServer((q, r) => r.end('hello from aci')).listen(8080)";
    const group = sandboxGroup({ ports: [8080] });
    group.containers = [
      { name: 'web', image: `${s.registry}/warden-aci-standin:${process.env.WARDEN_IMAGE_TAG || 'latest'}`, command: ['node', '-e', server], ports: [{ port: 8080 }], resources: { requests: { cpu: 0.25, memoryInGB: 0.25 } } },
      { name: 'peer', image: s.sandboxImage, command: ['sh', '-c', 'until curl -s localhost:8080; do sleep 0.2; done; echo; exec sleep infinity'], resources: { requests: { cpu: 0.25, memoryInGB: 0.25 } } },
    ];
    const g = await client.containerGroups.beginCreateOrUpdateAndWait(rg(), name, group);
    const ip = g.ipAddress?.ip;
    expect(ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    const body = await eventually(() => fetch(`http://${ip}:8080/`).then((r) => r.text(), () => ''), (b) => b === 'hello from aci', 'the server in the group');
    expect(body).toBe('hello from aci');
    const peer = await eventually(async () => (await client.containers.listLogs(rg(), name, 'peer')).content ?? '', (c) => c.includes('hello from aci'), "the peer's request over localhost");
    expect(peer).toContain('hello from aci');
  });

  it('lists groups by resource group and by subscription, without instance views, against the ACI stand-in', async () => {
    const name = track(groupName('list'));
    await client.containerGroups.beginCreateOrUpdateAndWait(rg(), name, sandboxGroup());
    const byRg = [];
    for await (const g of client.containerGroups.listByResourceGroup(rg())) byRg.push(g);
    const bySub = [];
    for await (const g of client.containerGroups.list()) bySub.push(g);
    expect(byRg.map((g) => g.name)).toContain(name);
    expect(bySub.map((g) => g.name)).toContain(name);
    expect(byRg.find((g) => g.name === name)?.instanceView).toBeUndefined();
    const other = [];
    for await (const g of client.containerGroups.listByResourceGroup('other-rg')) other.push(g);
    expect(other).toEqual([]);
  });

  it('deletes a group and everything it ran; a second delete is a no-op, a get is 404 ResourceNotFound, against the ACI stand-in', async () => {
    const name = groupName('delete');
    await client.containerGroups.beginCreateOrUpdateAndWait(rg(), name, sandboxGroup());
    expect(await engineObjects(name)).toHaveLength(2);
    await client.containerGroups.beginDeleteAndWait(rg(), name);
    expect(await engineObjects(name)).toEqual([]);
    await client.containerGroups.beginDeleteAndWait(rg(), name); // 204: nothing to delete
    const err = await client.containerGroups.get(rg(), name).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'RestError', statusCode: 404, code: 'ResourceNotFound' });
  });

  it('updates a group in place (PUT on an existing name redeploys its containers) against the ACI stand-in', async () => {
    const name = track(groupName('update'));
    await client.containerGroups.beginCreateOrUpdateAndWait(rg(), name, sandboxGroup({ env: { V: '1' } }));
    const first = await engineObjects(name);
    const g = await client.containerGroups.beginCreateOrUpdateAndWait(rg(), name, sandboxGroup({ env: { V: '2' } }));
    expect(g.containers[0]!.environmentVariables).toEqual([{ name: 'V', value: '2' }]);
    const second = await engineObjects(name);
    expect(second).toHaveLength(2);
    expect(second.some((id) => first.includes(id))).toBe(false);
  });
});
