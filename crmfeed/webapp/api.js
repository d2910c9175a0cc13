// GraphQL over HTTP: POST /graphql with the token in the Authorization header.

const ENDPOINT = new URL("/graphql", location.href).href;
export const WS_ENDPOINT = ENDPOINT.replace(/^http/, "ws");

export class GraphQLError extends Error {
  constructor(errors) {
    super(errors.map((error) => error.message).join("; "));
    this.errors = errors;
    this.code = errors[0]?.extensions?.code;
  }
}

let token = sessionStorage.getItem("crmfeed.token");

export const session = {
  get token() {
    return token;
  },
  set(value) {
    token = value;
    if (value) sessionStorage.setItem("crmfeed.token", value);
    else sessionStorage.removeItem("crmfeed.token");
  },
};

/** Run an operation; resolves to its `data`, rejects with a GraphQLError. */
export async function gql(query, variables = {}) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(ENDPOINT, {
    method: "POST",
    headers,
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors?.length) throw new GraphQLError(body.errors);
  return body.data;
}
