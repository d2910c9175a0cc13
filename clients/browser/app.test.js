// The reference single-page app (/app/) in Debian's Chromium, driven by playwright-core: two
// people log in; one posts on her account, the other finds it in his Work feed and replies, and
// her unread badge and notification list update within a second. Screenshots go to
// clients/screenshots/ (look at them). Chromium: $CHROMIUM, or /usr/bin/chromium.

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

import { DEMO_PASSWORD, demoEmail, startServer } from "../lib/server.js";

const SCREENSHOTS = join(dirname(fileURLToPath(import.meta.url)), "..", "screenshots");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

let server;
let browser;
before(async () => {
  mkdirSync(SCREENSHOTS, { recursive: true });
  server = await startServer();
  // A fresh, empty profile (Playwright's own temporary user-data-dir for each launch).
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

async function api(query, variables = {}, token = null) {
  const response = await fetch(server.graphqlUrl, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  return body.data;
}

/**
 * A new browser context (its own storage) with `name` logged in through the form; `prepare`
 * (page, sockets) runs before the app loads.
 */
async function logIn(name, prepare) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const sockets = [];
  await prepare?.(page, sockets);
  const problems = [];
  page.on("pageerror", (error) => problems.push(error.message));
  page.on("console", (message) => message.type() === "error" && problems.push(message.text()));
  await page.goto(`${server.url}/app/`);
  await page.fill("input[name=email]", demoEmail(name));
  await page.fill("input[name=password]", DEMO_PASSWORD);
  await page.screenshot({ path: join(SCREENSHOTS, "0-login.png") });
  await page.click("#login-form button[type=submit]");
  await page.waitForSelector("#feed .item");
  await page.waitForFunction(() => document.querySelector("#live-status").textContent === "live");
  return { context, page, problems, sockets };
}

test("a reply by one person reaches the other's badge and list within a second", async () => {
  const ava = await logIn("Ava Thompson");
  const liam = await logIn("Liam Carter");
  await ava.page.screenshot({ path: join(SCREENSHOTS, "1-ava-work-feed.png") });

  // Ava's badge shows her unread notifications, as the API counts them.
  const { login } = await api(
    "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token user { id } } }",
    { e: demoEmail("Ava Thompson"), p: DEMO_PASSWORD },
  );
  const { unreadNotificationCount: unread } = await api("{ unreadNotificationCount }", {}, login.token);
  await ava.page.waitForFunction(
    (count) => Number(document.querySelector("#badge").textContent) === count,
    unread,
  );

  // She posts on one of her accounts, from its feed.
  const { records } = await api(
    "query($me: ID!) { records(objectType: ACCOUNT, filter: {ownerId: $me}, first: 1) { edges { node { id name } } } }",
    { me: login.user.id },
    login.token,
  );
  const account = records.edges[0].node;
  await ava.page.goto(`${server.url}/app/#/record/${account.id}`);
  await ava.page.waitForFunction((name) => document.querySelector("#title").textContent.startsWith(name), account.name);
  const content = `Quote sent, waiting for their answer ${randomUUID().slice(0, 8)}`;
  await ava.page.fill("#post-form textarea", content);
  await ava.page.click("#post-form button");
  const posted = ava.page.locator(".item", { hasText: content });
  await posted.waitFor();
  assert.equal(await posted.locator("button.follow").textContent(), "Following");
  await ava.page.click("#bell");
  const before = Number(await ava.page.textContent("#badge"));

  // Liam, her manager, sees it at the top of his Work feed and replies.
  await liam.page.reload();
  const card = liam.page.locator(".item", { hasText: content });
  await card.waitFor();
  await card.locator("input[name=reply]").fill("Good, call me when they answer");
  const sent = Date.now();
  await card.locator(".reply-form button").click();

  await ava.page.waitForFunction(
    (count) => Number(document.querySelector("#badge").textContent) === count,
    before + 1,
    { timeout: 1000 },
  );
  const first = ava.page.locator("#notification-list li").first();
  await first.waitFor({ timeout: 1000 });
  const took = Date.now() - sent;
  assert.match(await first.textContent(), /Liam Carter/);
  assert.equal(await first.getAttribute("class"), "unread");
  assert.ok(took <= 1000, `the badge and list updated after ${took} ms`);
  await card.locator(".replies li", { hasText: "Good, call me" }).waitFor();
  await ava.page.screenshot({ path: join(SCREENSHOTS, "2-ava-notified.png") });
  await liam.page.screenshot({ path: join(SCREENSHOTS, "3-liam-replied.png") });

  // Marking them read clears the badge.
  await ava.page.click("#mark-read");
  await ava.page.waitForSelector("#badge", { state: "hidden" });

  assert.deepEqual(ava.problems, []);
  assert.deepEqual(liam.problems, []);
  await ava.context.close();
  await liam.context.close();
});

test("the scenes page with infinite scroll; like and follow", async () => {
  const liam = await logIn("Liam Carter");
  const items = liam.page.locator("#feed .item");
  const firstPage = await items.count();
  assert.equal(firstPage, 10);
  assert.equal(await liam.page.isVisible("#post-form"), false, "posting is on a record's feed");
  assert.equal(await liam.page.isVisible("#login"), false);
  await liam.page.locator("#feed-end").scrollIntoViewIfNeeded();
  await liam.page.waitForFunction(() => document.querySelectorAll("#feed .item").length >= 20);
  const ids = await items.evaluateAll((cards) => cards.map((card) => card.dataset.id));
  assert.equal(new Set(ids).size, ids.length, "no item twice");

  const card = items.first();
  const likes = await card.locator("button.like").textContent();
  await card.locator("button.like").click();
  await card.locator("button.like.on").waitFor();
  const count = (text) => Number(/\((\d+)\)/.exec(text)[1]);
  assert.equal(count(await card.locator("button.like").textContent()), count(likes) + (likes.startsWith("Liked") ? -1 : 1));

  for (const [scene, label] of [["MY_ACCOUNTS", "My accounts"], ["SUBORDINATES_RECORDS", "Subordinates' records"]]) {
    await liam.page.click(`nav a[data-scene=${scene}]`);
    await liam.page.waitForFunction((title) => document.querySelector("#title").textContent === title, label);
    await liam.page.waitForFunction(
      () => document.querySelector("#feed .item") || document.querySelector("#feed-end").textContent,
    );
  }
  await liam.page.screenshot({ path: join(SCREENSHOTS, "4-liam-scene.png") });
  assert.deepEqual(liam.problems, []);
  await liam.context.close();
});

test("after a dropped websocket the app resumes from its last cursor: the missed reply, once", async () => {
  const ava = await logIn("Ava Thompson", async (page, sockets) => {
    // Every websocket of the page goes through the test, which can drop it and sees its frames.
    await page.routeWebSocket(/\/graphql$/, (route) => {
      const socket = { route, sent: [], received: [] };
      sockets.push(socket);
      const server = route.connectToServer();
      route.onMessage((message) => {
        socket.sent.push(JSON.parse(message));
        server.send(message);
      });
      server.onMessage((message) => {
        socket.received.push(JSON.parse(message));
        route.send(message);
      });
    });
  });
  const { login } = await api(
    "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token user { id } } }",
    { e: demoEmail("Ava Thompson"), p: DEMO_PASSWORD },
  );
  const liam = await api(
    "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }",
    { e: demoEmail("Liam Carter"), p: DEMO_PASSWORD },
  );
  const { records } = await api(
    "query($me: ID!) { records(objectType: ACCOUNT, filter: {ownerId: $me}, first: 1) { edges { node { id } } } }",
    { me: login.user.id },
    login.token,
  );
  const { postSalesRecord: item } = await api(
    "mutation($input: PostSalesRecordInput!) { postSalesRecord(input: $input) { id } }",
    { input: { content: "Asked for the signed order", accountId: records.edges[0].node.id } },
    login.token,
  );
  const reply = (content) =>
    api("mutation($id: ID!, $c: String!) { reply(itemId: $id, content: $c) { id } }", { id: item.id, c: content }, liam.login.token);

  await reply("First, while she is connected");
  await ava.page.waitForSelector("#notification-list li >> text=First, while she is connected", { state: "attached" });
  const [first] = ava.sockets;
  const nexts = (socket) => socket.received.filter((message) => message.type === "next");
  const lastCursor = nexts(first).at(-1).payload.data.notifications.cursor;
  const listed = await ava.page.locator("#notification-list li").count();

  // The connection drops; a reply comes while the app waits to reconnect (1 s).
  await first.route.close({ code: 4000, reason: "dropped by the test" });
  await reply("Second, while she is away");
  await ava.page.waitForFunction(() => document.querySelector("#live-status").textContent === "live");
  await ava.page.waitForSelector("#notification-list li >> text=Second, while she is away", { state: "attached" });
  await new Promise((ok) => setTimeout(ok, 300)); // anything more would come now

  assert.equal(ava.sockets.length, 2);
  const second = ava.sockets[1];
  const subscribe = second.sent.find((message) => message.type === "subscribe");
  assert.equal(subscribe.payload.variables.after, lastCursor, "resubscribed from the last cursor seen");
  assert.deepEqual(
    nexts(second).map((message) => message.payload.data.notifications.message),
    ["Liam Carter replied: Second, while she is away"],
    "the missed notification, and nothing already seen",
  );
  assert.equal(await ava.page.locator("#notification-list li").count(), listed + 1);
  assert.deepEqual(ava.problems, []);
  await ava.context.close();
});
