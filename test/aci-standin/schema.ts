/**
 * Request-body validation driven by the Container Instances API's own model (the mappers generated
 * from Azure's REST specification, shipped in @azure/arm-containerinstance), so the stand-in knows
 * every property real ARM knows, which are required and which are read-only. Failures read like the
 * deserializer errors ARM returns (`InvalidRequestContent`: "Could not find member ...", "Required
 * property ... not found in JSON").
 */
import * as Mappers from '@azure/arm-containerinstance/dist-esm/src/models/mappers.js';
import { ArmError } from './arm-error.js';

interface MapperType {
  name: string;
  className?: string;
  modelProperties?: Record<string, MapperProp>;
  element?: { type: MapperType };
  value?: { type: MapperType };
  allowedValues?: unknown[];
}
interface MapperProp {
  serializedName?: string;
  required?: boolean;
  readOnly?: boolean;
  type: MapperType;
}

type Node =
  | { kind: 'object'; typeName: string; props: Map<string, { node: Node; required: boolean; readOnly: boolean }> }
  | { kind: 'array'; element: Node }
  | { kind: 'map'; value: Node }
  | { kind: 'leaf'; type: string };

const mappers = Mappers as unknown as Record<string, { type: MapperType }>;
const cache = new Map<string, Node>();

function composite(className: string): Node {
  const hit = cache.get(className);
  if (hit) return hit;
  const m = mappers[className];
  if (!m) throw new Error(`no mapper for ${className}`);
  const root: Node = { kind: 'object', typeName: className, props: new Map() };
  cache.set(className, root);
  for (const prop of Object.values(m.type.modelProperties ?? {})) {
    if (!prop.serializedName) continue;
    const path = prop.serializedName.split('.');
    let obj = root;
    for (const seg of path.slice(0, -1)) {
      let next = obj.props.get(seg);
      if (!next) {
        // a flattened "properties" bag: ARM's model calls it <Class>Properties
        next = { node: { kind: 'object', typeName: `${className}Properties`, props: new Map() }, required: false, readOnly: false };
        obj.props.set(seg, next);
      }
      if (prop.required) next.required = true;
      obj = next.node as Extract<Node, { kind: 'object' }>;
    }
    obj.props.set(path[path.length - 1]!, { node: toNode(prop.type), required: !!prop.required, readOnly: !!prop.readOnly });
  }
  return root;
}

function toNode(t: MapperType): Node {
  switch (t.name) {
    case 'Composite':
      return composite(t.className!);
    case 'Sequence':
      return { kind: 'array', element: toNode(t.element!.type) };
    case 'Dictionary':
      return { kind: 'map', value: toNode(t.value!.type) };
    default:
      return { kind: 'leaf', type: t.name };
  }
}

const DOTNET: Record<string, string> = { String: 'System.String', Number: 'System.Double', Boolean: 'System.Boolean', DateTime: 'System.DateTime' };

function bad(message: string, target: string): ArmError {
  return new ArmError(400, 'InvalidRequestContent', `The request content was invalid and could not be deserialized: '${message}'.`, target);
}

function walk(node: Node, v: unknown, path: string): void {
  if (v === null) return; // JSON null: the property is treated as absent, as ARM does
  switch (node.kind) {
    case 'object': {
      if (typeof v !== 'object' || Array.isArray(v)) throw bad(`Error converting value ${JSON.stringify(v)} to type '${node.typeName}'. Path '${path}'`, path);
      const o = v as Record<string, unknown>;
      for (const key of Object.keys(o)) {
        const p = node.props.get(key);
        if (!p) throw bad(`Could not find member '${key}' on object of type '${node.typeName}'. Path '${path ? `${path}.` : ''}${key}'`, `${path ? `${path}.` : ''}${key}`);
        if (!p.readOnly) walk(p.node, o[key], `${path ? `${path}.` : ''}${key}`);
      }
      for (const [key, p] of node.props) {
        if (p.required && !p.readOnly && (o[key] === undefined || o[key] === null)) {
          throw bad(`Required property '${key}' not found in JSON. Path '${path}'`, path ? `${path}.${key}` : key);
        }
      }
      return;
    }
    case 'array':
      if (!Array.isArray(v)) throw bad(`Error converting value ${JSON.stringify(v)} to type 'System.Collections.Generic.List'. Path '${path}'`, path);
      v.forEach((e, i) => walk(node.element, e, `${path}[${i}]`));
      return;
    case 'map':
      if (typeof v !== 'object' || Array.isArray(v)) throw bad(`Error converting value ${JSON.stringify(v)} to type 'System.Collections.Generic.Dictionary'. Path '${path}'`, path);
      for (const [k, e] of Object.entries(v as Record<string, unknown>)) walk(node.value, e, `${path}.${k}`);
      return;
    case 'leaf': {
      const ok =
        node.type === 'String' || node.type === 'Enum' || node.type === 'DateTime'
          ? typeof v === 'string'
          : node.type === 'Number'
            ? typeof v === 'number' && Number.isFinite(v)
            : node.type === 'Boolean'
              ? typeof v === 'boolean'
              : true;
      if (!ok) throw bad(`Error converting value ${JSON.stringify(v)} to type '${DOTNET[node.type] ?? node.type}'. Path '${path}'`, path);
      return;
    }
  }
}

/** Validates a body against one of the API's models (e.g. 'ContainerGroup', 'ContainerExecRequest'). */
export function validateModel(className: string, body: unknown): void {
  walk(composite(className), body, '');
}
