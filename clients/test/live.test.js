// The notifications subscription over graphql-ws (graphql-transport-ws), through Apollo's
// GraphQLWsLink, against a real `crmfeed serve`: connectionParams auth, a live notification
// caused by another user's reply, and a reconnect that resumes from the last cursor it saw.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { gql } from "@apollo/client";

import { createApollo, createWsClient } from "../lib/apollo.js";
import { DEMO_PASSWORD, demoEmail, startServer } from "../lib/server.js";

const LOGIN = gql`
  mutation Login($email: String!, $password: String!) {
    login(email: $email, password: $password) { token user { id name } }
  }
`;
const MY_ACCOUNT = gql`
  query MyAccount($me: ID!) {
    records(objectType: ACCOUNT, filter: { ownerId: $me }, first: 1) { edges { node { id name } } }
  }
`;
const POST = gql`
  mutation Post($input: PostSalesRecordInput!) {
    postSalesRecord(input: $input) { id followedByMe }
  }
`;
const REPLY = gql`
  mutation Reply($itemId: ID!, $content: String!) { reply(itemId: $itemId, content: $content) { id } }
`;
const INBOX = gql`
  query Inbox($after: String) {
    notifications(after: $after, first: 100) {
      edges { cursor node { id kind } }
      pageInfo { hasNextPage endCursor }
    }
  }
`;
const NOTIFICATIONS = gql`
  subscription Notifications($after: String) {
    notifications(after: $after) {
      id cursor kind message actor { name } feedItem { id }
    }
  }
`;

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

async function signIn(name) {
  const session = {};
  const client = createApollo(server, session);
  const { data } = await client.mutate({
    mutation: LOGIN,
    variables: { email: demoEmail(name), password: DEMO_PASSWORD },
  });
  session.token = data.login.token;
  return { client, session, user: data.login.user };
}

/** Every notification in the inbox after `cursor`, oldest first (paged, no cache). */
async function inboxAfter(client, cursor) {
  const found = [];
  for (let after = cursor; ; ) {
    const { data } = await client.query({ query: INBOX, variables: { after }, fetchPolicy: "no-cache" });
    found.push(...data.notifications.edges.map((edge) => edge.node));
    if (!data.notifications.pageInfo.hasNextPage) return found;
    after = data.notifications.pageInfo.endCursor;
  }
}

async function lastCursor(client) {
  let cursor = null;
  for (;;) {
    const { data } = await client.query({ query: INBOX, variables: { after: cursor }, fetchPolicy: "no-cache" });
    cursor = data.notifications.pageInfo.endCursor ?? cursor;
    if (!data.notifications.pageInfo.hasNextPage) return cursor;
  }
}

/** Subscribe through Apollo over a new graphql-ws connection; received notifications go to `into`. */
function listen(session, into, after) {
  const ws = createWsClient(server.wsUrl, session.token);
  const apollo = createApollo(server, session, { wsClient: ws });
  const state = { ws, error: null, connected: false };
  ws.on("connected", () => (state.connected = true));
  state.subscription = apollo
    .subscribe({ query: NOTIFICATIONS, variables: { after } })
    .subscribe({
      next: ({ data, error }) => (error ? (state.error = error) : into.push(data.notifications)),
      error: (error) => (state.error = error),
    });
  return state;
}

async function until(condition, what, within = 5000) {
  const deadline = Date.now() + within;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${within} ms`);
    await new Promise((ok) => setTimeout(ok, 10));
  }
}

test("a reply by someone else arrives live, and a reconnect resumes from the last cursor", async () => {
  const ava = await signIn("Ava Thompson");
  const liam = await signIn("Liam Carter"); // her manager: he sees what she posts
  const { data: accounts } = await ava.client.query({ query: MY_ACCOUNT, variables: { me: ava.user.id } });
  const account = accounts.records.edges[0].node;
  const { data: posted } = await ava.client.mutate({
    mutation: POST,
    variables: { input: { content: "Visited them: they want a quote", accountId: account.id } },
  });
  const item = posted.postSalesRecord;
  assert.equal(item.followedByMe, true, "the author follows what she posts");
  const replyAsLiam = (n) =>
    liam.client.mutate({ mutation: REPLY, variables: { itemId: item.id, content: `Reply ${n}` } });

  const start = await lastCursor(ava.client);
  const received = [];
  const first = listen(ava.session, received, start);
  await until(() => first.connected, "the websocket acknowledged Ava's token");
  await replyAsLiam(1);
  await until(() => received.length === 1, "the first reply's notification");
  assert.equal(received[0].kind, "REPLY");
  assert.equal(received[0].actor.name, "Liam Carter");
  assert.equal(received[0].feedItem.id, item.id);
  await replyAsLiam(2);
  await until(() => received.length === 2, "the second reply's notification");

  // The connection drops; two more replies come while Ava is away.
  first.ws.terminate();
  first.subscription.unsubscribe();
  await first.ws.dispose();
  await replyAsLiam(3);
  await replyAsLiam(4);

  // Back, from the last cursor seen: the two missed ones first, then live again.
  const second = listen(ava.session, received, received.at(-1).cursor);
  await until(() => received.length === 4, "the two notifications missed while away");
  await replyAsLiam(5);
  await until(() => received.length === 5, "a live notification after the reconnect");
  await new Promise((ok) => setTimeout(ok, 300)); // nothing more comes (no duplicate)
  second.subscription.unsubscribe();
  await second.ws.dispose();
  assert.equal(second.error, null);

  const ids = received.map((notification) => notification.id);
  assert.equal(new Set(ids).size, 5, "no duplicates");
  const inbox = await inboxAfter(ava.client, start);
  assert.deepEqual(ids, inbox.map((notification) => notification.id), "no gaps: exactly the inbox");
  assert.deepEqual(
    received.map((notification) => notification.kind),
    ["REPLY", "REPLY", "REPLY", "REPLY", "REPLY"],
  );
});

test("the websocket refuses a connection without a valid token", async () => {
  const closed = new Promise((ok) => {
    const ws = createWsClient(server.wsUrl, "not-a-token", { lazy: false, onNonLazyError: () => {} });
    ws.on("closed", (event) => ok({ code: event.code, reason: event.reason }));
  });
  const { code, reason } = await closed;
  assert.equal(code, 4403);
  assert.match(reason, /token is invalid or expired/);
});
