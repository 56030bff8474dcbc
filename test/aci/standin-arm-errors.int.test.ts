import { describe, expect, it } from 'vitest';
import { aciClient, credential, engineObjects, groupName, groupPath, rawArm, sandboxGroup, standin } from './support.js';

/** A minimal valid body, as JSON on the wire (the SDK would refuse to send the broken ones below). */
function body(over: Record<string, unknown> = {}, props: Record<string, unknown> = {}, container: Record<string, unknown> = {}): string {
  const s = standin();
  return JSON.stringify({
    location: s.location,
    ...over,
    properties: {
      osType: 'Linux',
      imageRegistryCredentials: [{ server: s.registry, username: 'u', password: 'p' }],
      containers: [{ name: 'c', properties: { image: s.sandboxImage, resources: { requests: { cpu: 0.5, memoryInGB: 0.5 } }, ...container } }],
      ...props,
    },
  });
}

describe('ARM errors, codes and validation, against the ACI stand-in', () => {
  it('needs a supported api-version against the ACI stand-in', async () => {
    const missing = await rawArm('GET', groupPath('x'), undefined, { apiVersion: null });
    expect(missing.status).toBe(400);
    expect(missing.json.error.code).toBe('MissingApiVersionParameter');
    const wrong = await rawArm('GET', groupPath('x'), undefined, { apiVersion: '2099-01-01' });
    expect(wrong.status).toBe(400);
    expect(wrong.json.error.code).toBe('NoRegisteredProviderFound');
    expect(wrong.json.error.message).toContain('2023-05-01');
  });

  it('answers 401 without a token, with a forged one and with one for another audience, against the ACI stand-in', async () => {
    const none = await rawArm('GET', groupPath('x'), undefined, { token: null });
    expect(none.status).toBe(401);
    expect(none.json.error.code).toBe('AuthenticationFailed');
    expect(none.headers.get('www-authenticate')).toContain('Bearer authorization_uri=');
    const real = (await credential().getToken('https://management.azure.com/.default'))!.token;
    const [h, p] = real.split('.');
    const forged = await rawArm('GET', groupPath('x'), undefined, { token: `${h}.${p}.${Buffer.from('x'.repeat(32)).toString('base64url')}` });
    expect(forged.status).toBe(401);
    expect(forged.json.error.code).toBe('InvalidAuthenticationToken');
    const vault = (await credential().getToken('https://vault.azure.net/.default'))!.token;
    const aud = await rawArm('GET', groupPath('x'), undefined, { token: vault });
    expect(aud.status).toBe(401);
    expect(aud.json.error.code).toBe('InvalidAuthenticationTokenAudience');
  });

  it('refuses a wrong client secret at the token endpoint (AADSTS7000215) against the ACI stand-in', async () => {
    const err = await credential({ clientId: standin().clientId, clientSecret: 'not-the-secret' })
      .getToken('https://management.azure.com/.default')
      .catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain('AADSTS7000215');
  });

  it('answers 403 AuthorizationFailed to a principal without a role assignment against the ACI stand-in', async () => {
    const s = standin();
    const client = aciClient(credential(s.noAccess));
    const err = await client.containerGroups.get(s.resourceGroup, 'anything').catch((e: unknown) => e);
    expect(err).toMatchObject({ statusCode: 403, code: 'AuthorizationFailed' });
    expect((err as Error).message).toContain("'Microsoft.ContainerInstance/containerGroups/read'");
  });

  it('names a missing subscription, resource group and group, and a malformed subscription id, against the ACI stand-in', async () => {
    const s = standin();
    expect((await rawArm('GET', groupPath('x', 'no-such-rg'))).json.error.code).toBe('ResourceGroupNotFound');
    const nf = await rawArm('GET', groupPath('no-such-group'));
    expect(nf.status).toBe(404);
    expect(nf.json.error.code).toBe('ResourceNotFound');
    const otherSub = await rawArm('GET', groupPath('x').replace(s.subscriptionId, '00000000-0000-0000-0000-000000000000'));
    expect(otherSub.status).toBe(404);
    expect(otherSub.json.error.code).toBe('SubscriptionNotFound');
    const bad = await rawArm('GET', groupPath('x').replace(s.subscriptionId, 'not-a-guid'));
    expect(bad.status).toBe(400);
    expect(bad.json.error.code).toBe('InvalidSubscriptionId');
  });

  it('rejects unknown members, missing required properties, wrong types and bad JSON the way ARM deserializes, against the ACI stand-in', async () => {
    const cases: Array<[string, string]> = [
      [body({ bogus: 1 }), "Could not find member 'bogus' on object of type 'ContainerGroup'"],
      [body({}, { restartPolicyy: 'Never' }), "Could not find member 'restartPolicyy' on object of type 'ContainerGroupProperties'"],
      [body({}, {}, { imagee: 'x' }), "Could not find member 'imagee'"],
      [JSON.stringify({ location: standin().location }), "Required property 'properties' not found in JSON"],
      [body({}, { containers: [{ name: 'c', properties: { resources: { requests: { cpu: 1, memoryInGB: 1 } } } }] }), "Required property 'image' not found in JSON"],
      [body({}, {}, { resources: { requests: { cpu: 'lots', memoryInGB: 1 } } }), "Error converting value \"lots\" to type 'System.Double'"],
      ['{"location": ', 'could not be deserialized'],
    ];
    for (const [b, msg] of cases) {
      const r = await rawArm('PUT', groupPath(groupName('bad')), b);
      expect(r.status, b).toBe(400);
      expect(r.json.error.code, b).toBe('InvalidRequestContent');
      expect(r.json.error.message, b).toContain(msg);
    }
  });

  it('applies ACI rules: names, images, registry credentials, sizes, locations, ports, against the ACI stand-in', async () => {
    const s = standin();
    const expectCode = async (path: string, b: string, code: string): Promise<void> => {
      const r = await rawArm('PUT', path, b);
      expect(r.status, `${path} ${b}`).toBe(400);
      expect(r.json.error.code, `${path} ${b}`).toBe(code);
    };
    for (const name of ['Upper', 'a--b', '-lead', 'trail-', 'x'.repeat(64), 'dots.no']) await expectCode(groupPath(name), body(), 'InvalidContainerGroupName');
    await expectCode(groupPath(groupName('cn')), body({}, {}, {}).replace('"name":"c"', '"name":"Bad_Name"'), 'InvalidContainerName');
    await expectCode(groupPath(groupName('img')), body({}, {}, { image: `${s.registry}/no-such-image:1` }), 'InaccessibleImage');
    await expectCode(groupPath(groupName('img')), body({}, {}, { image: 'quay.io/some/image:1' }), 'InaccessibleImage');
    await expectCode(groupPath(groupName('cred')), body({}, { imageRegistryCredentials: [] }), 'InaccessibleImage');
    await expectCode(groupPath(groupName('cpu')), body({}, {}, { resources: { requests: { cpu: 5, memoryInGB: 1 } } }), 'ServiceUnavailable');
    await expectCode(groupPath(groupName('loc')), body({ location: 'moon-north' }), 'LocationNotAvailableForResourceType');
    await expectCode(groupPath(groupName('creds')), body({}, { imageRegistryCredentials: [{ server: s.registry, username: 'a', password: 'b' }, { server: 'x.io', username: 'a', password: 'b' }] }), 'MoreImageRegistryCredentialsThanContainers');
    await expectCode(groupPath(groupName('ports')), body({}, { ipAddress: { type: 'Public', ports: [{ port: 80 }] } }), 'InvalidIpAddressPorts');
    await expectCode(groupPath(groupName('os')), body({}, { osType: 'Plan9' }), 'InvalidOsType');
  });

  it('leaves nothing behind after a refused create against the ACI stand-in', async () => {
    const s = standin();
    const name = groupName('refused');
    const r = await rawArm('PUT', groupPath(name), body({}, {}, { image: `${s.registry}/no-such-image:1` }));
    expect(r.status).toBe(400);
    expect((await rawArm('GET', groupPath(name))).status).toBe(404);
    expect(await engineObjects(name)).toEqual([]);
  });

  it('answers 409 to an exec in a stopped group and 404 for an unknown container, against the ACI stand-in', async () => {
    const s = standin();
    const client = aciClient();
    const name = groupName('execstop');
    try {
      await client.containerGroups.beginCreateOrUpdateAndWait(s.resourceGroup, name, sandboxGroup());
      const unknown = await client.containers.executeCommand(s.resourceGroup, name, 'nope', { command: '/bin/sh' }).catch((e: unknown) => e);
      expect(unknown).toMatchObject({ statusCode: 404, code: 'ContainerNotFound' });
      await client.containerGroups.stop(s.resourceGroup, name);
      const stopped = await client.containers.executeCommand(s.resourceGroup, name, 'sandbox', { command: '/bin/sh' }).catch((e: unknown) => e);
      expect(stopped).toMatchObject({ statusCode: 409, code: 'ContainerGroupNotRunning' });
    } finally {
      await client.containerGroups.beginDeleteAndWait(s.resourceGroup, name).catch(() => undefined);
    }
  });
});
