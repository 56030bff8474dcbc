/** JSON bodies nested deeper than this are refused before parsing (recursion in validation would overflow). */
export const MAX_JSON_DEPTH = 64;

/** An error fastify's handler turns into a coded 400. */
function badRequest(message: string): Error {
  return Object.assign(new Error(message), { statusCode: 400 });
}

/**
 * Parse a request body as JSON the way a hostile client cannot abuse: nesting is counted in one pass
 * before `JSON.parse` (5000 nested arrays parse fine, then overflow the stack of whatever walks them),
 * and `__proto__` keys are refused (prototype poisoning through a later assignment).
 * An empty body is no body.
 */
export function parseJsonBody(text: string, maxDepth = MAX_JSON_DEPTH): unknown {
  if (text.trim() === '') return undefined;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 91 || c === 123) {
      if (++depth > maxDepth) throw badRequest(`the JSON body is nested more than ${maxDepth} levels deep; no Warden request needs that`);
    } else if (c === 93 || c === 125) depth--;
  }
  try {
    return JSON.parse(text, (key: string, value: unknown) => {
      if (key === '__proto__') throw badRequest("the JSON body has a '__proto__' key; it is refused (prototype poisoning)");
      return value;
    });
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 400) throw err;
    throw badRequest(`the body is not valid JSON: ${(err as Error).message}`);
  }
}
