// Apollo Client (core, no React) and graphql-ws, set up as a single-page app would set them up
// for crmfeed: HTTP for queries and mutations with the token in the Authorization header,
// relay-style paging for feeds, the websocket (graphql-transport-ws) for subscriptions with the
// token in connection_init, and optionally Automatic Persisted Queries.

import { createHash } from "node:crypto";

import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from "@apollo/client";
import { SetContextLink } from "@apollo/client/link/context";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { relayStylePagination } from "@apollo/client/utilities";
import { getMainDefinition } from "@apollo/client/utilities";
import { createClient } from "graphql-ws";
import WebSocket from "ws";

export const sha256 = (text) => createHash("sha256").update(text).digest("hex");

/** Feeds page with `first`/`after`; the other arguments tell one feed from another. */
export function createCache() {
  return new InMemoryCache({
    typePolicies: {
      Query: {
        fields: {
          feed: relayStylePagination(["scene", "recordId", "types"]),
          notifications: relayStylePagination(["unreadOnly"]),
        },
      },
    },
  });
}

/** A graphql-ws client that signs in with `token` in the connection_init payload. */
export function createWsClient(wsUrl, token, options = {}) {
  return createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${token}` },
    retryAttempts: 0, // the tests reconnect themselves, from the last cursor
    ...options,
  });
}

/**
 * An ApolloClient for `server`; `session.token` is read on every request (log in, then set it).
 * `persisted: true` (or PersistedQueryLink options) adds Automatic Persisted Queries; `fetch`
 * replaces the HTTP fetch (to watch what is sent); `wsClient` routes subscriptions to it.
 */
export function createApollo(server, session, { persisted, fetch, wsClient } = {}) {
  const auth = new SetContextLink((previous) => ({
    headers: {
      ...previous.headers,
      ...(session.token ? { authorization: `Bearer ${session.token}` } : {}),
    },
  }));
  let http = new HttpLink({ uri: server.graphqlUrl, ...(fetch ? { fetch } : {}) });
  if (persisted) {
    const options = persisted === true ? {} : persisted;
    http = ApolloLink.from([new PersistedQueryLink({ sha256, ...options }), http]);
  }
  let link = ApolloLink.from([auth, http]);
  if (wsClient) {
    const isSubscription = ({ query }) => {
      const definition = getMainDefinition(query);
      return definition.kind === "OperationDefinition" && definition.operation === "subscription";
    };
    link = ApolloLink.split(isSubscription, new GraphQLWsLink(wsClient), link);
  }
  return new ApolloClient({ link, cache: createCache() });
}
