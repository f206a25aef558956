/**
 * The operations of a running service as its OpenAPI 3 document (/docs/json) describes them:
 * method, path template, path and query parameters, the JSON body schema and whether the
 * route needs the bearer token. `$ref`s into `#/components/schemas` are resolved.
 */

export type Service = 'manager' | 'agent';

/** The subset of JSON Schema the services' documents use (TypeBox output through @fastify/swagger). */
export interface Schema {
  type?: string | string[];
  enum?: unknown[];
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  items?: Schema;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  nullable?: boolean;
  $ref?: string;
  description?: string;
}

export interface Param {
  name: string;
  schema: Schema;
  required: boolean;
}

export interface Operation {
  service: Service;
  method: string;
  /** OpenAPI path template, e.g. `/v1/topologies/{id}`. */
  path: string;
  pathParams: Param[];
  query: Param[];
  /** The JSON body schema, when the operation takes one. */
  body: { schema: Schema; required: boolean } | undefined;
  /** False for routes the document marks `security: []` (health, readiness). */
  secured: boolean;
}

/** The operation's key as reports show it, e.g. `manager POST /v1/plans`. */
export const opKey = (o: Pick<Operation, 'service' | 'method' | 'path'>): string => `${o.service} ${o.method} ${o.path}`;

interface OpenApiDoc {
  paths: Record<string, Record<string, { parameters?: { in: string; name: string; required?: boolean; schema?: Schema }[]; requestBody?: { required?: boolean; content?: Record<string, { schema?: Schema }> }; security?: unknown[] }>>;
  components?: { schemas?: Record<string, Schema> };
  security?: unknown[];
}

const METHODS = new Set(['get', 'put', 'post', 'delete', 'patch', 'head', 'options']);

/** Replaces every `$ref` by the schema it names (the documents have no recursive schemas). */
function resolve(schema: Schema | undefined, components: Record<string, Schema>, seen: readonly string[] = []): Schema {
  if (schema === undefined) return {};
  if (schema.$ref !== undefined) {
    const name = schema.$ref.replace(/^#\/components\/schemas\//, '');
    const target = components[name];
    if (target === undefined || seen.includes(name)) return {};
    return resolve(target, components, [...seen, name]);
  }
  const out: Schema = { ...schema };
  if (schema.anyOf) out.anyOf = schema.anyOf.map((s) => resolve(s, components, seen));
  if (schema.oneOf) out.oneOf = schema.oneOf.map((s) => resolve(s, components, seen));
  if (schema.allOf) out.allOf = schema.allOf.map((s) => resolve(s, components, seen));
  if (schema.items) out.items = resolve(schema.items, components, seen);
  if (schema.properties) out.properties = Object.fromEntries(Object.entries(schema.properties).map(([k, v]) => [k, resolve(v, components, seen)]));
  if (typeof schema.additionalProperties === 'object') out.additionalProperties = resolve(schema.additionalProperties, components, seen);
  return out;
}

export function operationsOf(service: Service, doc: OpenApiDoc): Operation[] {
  const components = doc.components?.schemas ?? {};
  const globallySecured = (doc.security ?? []).length > 0;
  const out: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (!METHODS.has(method)) continue;
      const params = op.parameters ?? [];
      const param = (where: string): Param[] =>
        params.filter((p) => p.in === where).map((p) => ({ name: p.name, schema: resolve(p.schema, components), required: p.required === true }));
      const json = op.requestBody?.content?.['application/json'];
      out.push({
        service,
        method: method.toUpperCase(),
        path,
        pathParams: param('path'),
        query: param('query'),
        body: json === undefined ? undefined : { schema: resolve(json.schema, components), required: op.requestBody?.required === true },
        secured: op.security === undefined ? globallySecured : op.security.length > 0,
      });
    }
  }
  return out;
}

export async function fetchOperations(service: Service, baseUrl: string): Promise<Operation[]> {
  const response = await fetch(`${baseUrl}/docs/json`);
  if (response.status !== 200) throw new Error(`${service}: GET /docs/json answered ${String(response.status)}`);
  return operationsOf(service, (await response.json()) as OpenApiDoc);
}
