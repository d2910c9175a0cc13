// Apollo Client against a real `crmfeed serve` with the demo: login, the Work feed paged with
// fetchMore, a mutation the cache sees, and Automatic Persisted Queries.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { gql } from "@apollo/client";

import { createApollo, sha256 } from "../lib/apollo.js";
import { DEMO_PASSWORD, demoEmail, startServer } from "../lib/server.js";

const LOGIN = gql`
  mutation Login($email: String!, $password: String!) {
    login(email: $email, password: $password) { token user { id name } }
  }
`;

const FEED = gql`
  query Feed($scene: FeedScene!, $first: Int!, $after: String) {
    feed(scene: $scene, first: $first, after: $after) {
      edges { cursor node { id type content author { id name } likeCount likedByMe } }
      pageInfo { hasNextPage endCursor }
    }
  }
`;

const LIKE = gql`
  mutation Like($itemId: ID!) { like(itemId: $itemId) { id likeCount likedByMe } }
`;

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

async function until(condition, within = 5000) {
  const deadline = Date.now() + within;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not within ${within} ms: ${condition}`);
    await new Promise((ok) => setTimeout(ok, 5));
  }
}

async function login(client, session, name) {
  const { data } = await client.mutate({
    mutation: LOGIN,
    variables: { email: demoEmail(name), password: DEMO_PASSWORD },
  });
  session.token = data.login.token;
  return data.login.user;
}

test("login, then the Work feed paged with fetchMore into one list", async () => {
  const session = {};
  const client = createApollo(server, session);
  const liam = await login(client, session, "Liam Carter");
  assert.equal(liam.name, "Liam Carter");

  const feed = client.watchQuery({ query: FEED, variables: { scene: "WORK", first: 5 } });
  const results = [];
  const subscription = feed.subscribe((result) => results.push(result));
  try {
    let { data } = await feed.refetch();
    assert.equal(data.feed.edges.length, 5);
    for (let page = 0; page < 2; page += 1) {
      assert.ok(data.feed.pageInfo.hasNextPage);
      const seen = results.length;
      await feed.fetchMore({ variables: { after: data.feed.pageInfo.endCursor } });
      // The watched query emits the merged list (the cache's read of all pages so far).
      await until(() => results.length > seen && results.at(-1).data.feed.edges.length === 5 * (page + 2));
      data = feed.getCurrentResult().data;
    }
    const merged = data.feed.edges.map((edge) => edge.node.id);
    assert.equal(merged.length, 15, "three pages of five, merged by relayStylePagination");
    assert.equal(new Set(merged).size, 15, "no item twice");

    // The same fifteen, in the same order, as one page.
    const { data: whole } = await client.query({
      query: FEED,
      variables: { scene: "WORK", first: 15 },
      fetchPolicy: "no-cache",
    });
    assert.deepEqual(merged, whole.feed.edges.map((edge) => edge.node.id));
  } finally {
    subscription.unsubscribe();
  }
});

test("a mutation's answer updates the cached feed", async () => {
  const session = {};
  const client = createApollo(server, session);
  await login(client, session, "Liam Carter");
  const { data } = await client.query({ query: FEED, variables: { scene: "WORK", first: 10 } });
  const item = data.feed.edges.map((edge) => edge.node).find((node) => !node.likedByMe);
  assert.ok(item, "an item Liam has not liked");

  const liked = await client.mutate({ mutation: LIKE, variables: { itemId: item.id } });
  assert.deepEqual(liked.data.like, {
    __typename: "FeedItem",
    id: item.id,
    likeCount: item.likeCount + 1,
    likedByMe: true,
  });
  // Normalised by id: the cached feed shows it without asking the server again.
  const cached = client.readQuery({ query: FEED, variables: { scene: "WORK", first: 10 } });
  const again = cached.feed.edges.find((edge) => edge.node.id === item.id).node;
  assert.equal(again.likedByMe, true);
  assert.equal(again.likeCount, item.likeCount + 1);
});

test("Automatic Persisted Queries: the hash first, the text once, then the hash alone", async () => {
  const sent = [];
  const recording = async (uri, init) => {
    const url = new URL(uri);
    const body = init.method === "GET" ? null : JSON.parse(init.body);
    const extensions = body ? body.extensions : JSON.parse(url.searchParams.get("extensions"));
    sent.push({
      method: init.method,
      hasQuery: Boolean(body ? body.query : url.searchParams.get("query")),
      hash: extensions?.persistedQuery?.sha256Hash,
    });
    const response = await fetch(uri, init);
    sent.at(-1).status = response.status;
    return response;
  };
  const session = {};
  const plain = createApollo(server, session);
  await login(plain, session, "Ava Thompson");
  const query = gql`
    query Inbox { unreadNotificationCount me { id name } }
  `;

  const first = createApollo(server, session, { persisted: true, fetch: recording });
  const { data } = await first.query({ query });
  assert.equal(data.me.name, "Ava Thompson");
  assert.equal(sent.length, 2, JSON.stringify(sent));
  assert.deepEqual(
    sent.map(({ method, hasQuery }) => ({ method, hasQuery })),
    [
      { method: "POST", hasQuery: false }, // the hash alone: PersistedQueryNotFound
      { method: "POST", hasQuery: true }, // the link retries with the text and the hash
    ],
  );
  const hash = sent[0].hash;
  assert.match(hash, /^[0-9a-f]{64}$/);
  assert.equal(sent[1].hash, hash);

  // Another client (a new page load): the server knows the hash, the text is never sent.
  sent.length = 0;
  const second = createApollo(server, session, { persisted: true, fetch: recording });
  const again = await second.query({ query });
  assert.deepEqual(again.data, data);
  assert.deepEqual(sent, [{ method: "POST", hasQuery: false, hash, status: 200 }]);

  // With GET for hashed queries (cacheable by a CDN), the same.
  sent.length = 0;
  const viaGet = createApollo(server, session, {
    persisted: { useGETForHashedQueries: true },
    fetch: recording,
  });
  const third = await viaGet.query({ query });
  assert.deepEqual(third.data, data);
  assert.deepEqual(sent, [{ method: "GET", hasQuery: false, hash, status: 200 }]);
});

test("a persisted query sent with a hash that is not its text's is refused", async () => {
  const text = "query { __typename }";
  const response = await fetch(server.graphqlUrl, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      query: text,
      extensions: { persistedQuery: { version: 1, sha256Hash: sha256(`${text} `) } },
    }),
  });
  const body = await response.json();
  assert.equal(response.status, 400);
  assert.equal(body.errors[0].extensions.code, "BAD_REQUEST");
  assert.match(body.errors[0].message, /is not the sha256 of `query`/);
});
