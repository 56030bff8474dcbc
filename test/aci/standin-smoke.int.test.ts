import { afterAll, describe, expect, it } from 'vitest';
import { aciClient, groupName, sandboxGroup, standin } from './support.js';

describe('ACI SDK against the ACI stand-in (smoke)', () => {
  const client = aciClient();
  const made: string[] = [];
  afterAll(async () => {
    await Promise.all(made.map((n) => client.containerGroups.beginDeleteAndWait(standin().resourceGroup, n).catch(() => undefined)));
  });

  it('creates a group and polls it to Succeeded against the ACI stand-in', async () => {
    const name = groupName('smoke');
    made.push(name);
    const g = await client.containerGroups.beginCreateOrUpdateAndWait(standin().resourceGroup, name, sandboxGroup());
    expect(g.provisioningState).toBe('Succeeded');
    const got = await client.containerGroups.get(standin().resourceGroup, name);
    expect(got.instanceView?.state).toBe('Running');
  });
});
