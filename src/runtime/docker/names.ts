import { keyedUnitName, keyOfUnitName } from '../unit-names.js';

/**
 * Docker container names of sandbox units: `warden-<unit name>`. The engine makes names unique, which
 * is the Docker backend's lock for "one sandbox per key" (the keyed unit name is the same for every
 * caller) and, by rename, for pool claims.
 */
export const containerName = (unitName: string): string => `warden-${unitName}`;

/** The unit name of a container name (`/warden-x` and `warden-x` alike). */
export const unitNameOf = (container: string): string => container.replace(/^\/?warden-/, '').replace(/^\//, '');

/** The container name of the sandbox with `key` (see keyedUnitName). */
export const keyedName = (key: string): string => containerName(keyedUnitName(key));

/** The key a container name carries (a claimed pool member's labels were fixed before the claim). */
export const keyFromName = (name: string): string | undefined => keyOfUnitName(unitNameOf(name));

/**
 * A warm pool member's container name: `warden-prep-<template>-<id>` while it is made (no claim looks at
 * it), `warden-pool-<template>-<id>` once ready (markPoolReady renames it).
 */
export const prepName = (poolUnitName: string): string => containerName(`prep-${poolUnitName.replace(/^pool-/, '')}`);
export const readyName = (poolUnitName: string): string => containerName(poolUnitName.replace(/^prep-/, 'pool-'));

/** An unclaimed pool member: ready (`warden-pool-`) or being made (`warden-prep-`); claimed ones carry their key's name. */
export const isUnclaimedPoolName = (name: string): boolean => /^\/?warden-(pool|prep)-/.test(name);
export const isReadyPoolName = (name: string): boolean => /^\/?warden-pool-/.test(name);
