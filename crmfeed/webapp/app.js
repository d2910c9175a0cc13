// The reference single-page app: log in, read the Work feed and the scenes (infinite scroll),
// a record's feed, post / reply / like / follow, and live notifications over the websocket.
// Routes: #/scene/WORK, #/scene/MY_ACCOUNTS, ..., #/record/<id>.

import { GraphQLError, WS_ENDPOINT, gql, session } from "./api.js";
import { followNotifications } from "./live.js";

const PAGE_SIZE = 10;
const SCENES = {
  WORK: "Work",
  MY_ACCOUNTS: "My accounts",
  MY_CONTACTS: "My contacts",
  MY_OPPORTUNITIES: "My opportunities",
  MY_SALES_LEADS: "My sales leads",
  SUBORDINATES_TEAM_ACCOUNTS: "Subordinates' team accounts",
  SUBORDINATES_RECORDS: "Subordinates' records",
  MY_DEPARTMENTS_RECORDS: "My departments' records",
};

const ITEM = `
  fragment Item on FeedItem {
    id type content createdAt
    author { id name }
    relatedTo { id name objectType }
    likeCount likedByMe followedByMe replyCount
    replies(first: 10) { edges { node { id content author { name } } } }
  }`;

// The page size is written in the query: the server's cost limit counts a `first` given as a
// variable as the largest page.
const FEED = `
  query Feed($scene: FeedScene!, $recordId: ID, $after: String) {
    feed(scene: $scene, recordId: $recordId, first: ${PAGE_SIZE}, after: $after) {
      edges { node { ...Item } }
      pageInfo { hasNextPage endCursor }
    }
  }
  ${ITEM}`;

const $ = (id) => document.getElementById(id);

/** A DOM element: h("button", { onclick }, "Like"). Text is always set as text, never HTML. */
function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (value !== false && value != null) element.setAttribute(name, value === true ? "" : value);
  }
  element.append(...children.flat().filter((child) => child != null));
  return element;
}

const when = (iso) => new Date(iso).toLocaleString();

// -- signing in -----------------------------------------------------------------------------

let me = null;
let live = null;

async function start() {
  if (!session.token) return showLogin();
  try {
    ({ me } = await gql("query Me { me { id name } }"));
  } catch (error) {
    if (error instanceof GraphQLError && error.code === "UNAUTHENTICATED") return showLogin();
    throw error;
  }
  $("login").hidden = true;
  $("app").hidden = false;
  $("me").textContent = me.name;
  renderScenes();
  startNotifications();
  route();
}

function showLogin(message = "") {
  live?.stop();
  session.set(null);
  $("app").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message;
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  try {
    const data = await gql(
      "mutation Login($email: String!, $password: String!) { login(email: $email, password: $password) { token } }",
      { email: form.get("email"), password: form.get("password") },
    );
    session.set(data.login.token);
    await start();
  } catch (error) {
    $("login-error").textContent = error.message;
  }
});

$("logout").addEventListener("click", async () => {
  await gql("mutation Logout { logout }").catch(() => {});
  showLogin();
});

// -- feeds with infinite scroll ---------------------------------------------------------------

let view = null; // { scene, recordId, after, hasNextPage, loading, generation }
let generation = 0;

function renderScenes() {
  $("scenes").replaceChildren(
    ...Object.entries(SCENES).map(([scene, label]) =>
      h("a", { href: `#/scene/${scene}`, "data-scene": scene }, label),
    ),
  );
}

function route() {
  const [, kind, id] = location.hash.split("/");
  if (kind === "record" && id) openFeed({ scene: "WORK", recordId: decodeURIComponent(id) });
  else openFeed({ scene: SCENES[id] ? id : "WORK", recordId: null });
}
window.addEventListener("hashchange", () => me && route());

function openFeed({ scene, recordId }) {
  generation += 1;
  view = { scene, recordId, after: null, hasNextPage: true, loading: false, generation };
  for (const link of $("scenes").children) {
    link.classList.toggle("current", !recordId && link.dataset.scene === scene);
  }
  $("title").textContent = recordId ? "Record" : SCENES[scene];
  $("post-form").hidden = !recordId;
  $("feed").replaceChildren();
  $("feed-error").textContent = "";
  $("feed-end").textContent = "";
  if (recordId) {
    gql("query Record($id: ID!) { record(id: $id) { name objectType } }", { id: recordId })
      .then(({ record }) => {
        $("title").textContent = record ? `${record.name} (${record.objectType})` : "Not found";
      })
      .catch((error) => ($("feed-error").textContent = error.message));
  }
  loadMore();
}

async function loadMore() {
  const current = view;
  if (!current || current.loading || !current.hasNextPage) return;
  current.loading = true;
  try {
    const { feed } = await gql(FEED, {
      scene: current.scene,
      recordId: current.recordId,
      after: current.after,
    });
    if (current.generation !== generation) return; // the reader went elsewhere meanwhile
    $("feed").append(...feed.edges.map(({ node }) => renderItem(node)));
    current.after = feed.pageInfo.endCursor;
    current.hasNextPage = feed.pageInfo.hasNextPage;
    if (!current.hasNextPage) {
      $("feed-end").textContent = $("feed").children.length ? "That is all." : "Nothing here yet.";
    }
  } catch (error) {
    $("feed-error").textContent = error.message;
    current.hasNextPage = false;
  } finally {
    current.loading = false;
  }
  // Still at the bottom (a short page, a tall window)? Keep going.
  if (current.hasNextPage && isNearBottom()) loadMore();
}

const isNearBottom = () => $("feed-end").getBoundingClientRect().top < window.innerHeight + 200;
new IntersectionObserver((entries) => entries.some((e) => e.isIntersecting) && loadMore(), {
  rootMargin: "200px",
}).observe($("feed-end"));

$("post-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const content = event.target.elements.content;
  try {
    const { postSalesRecord } = await gql(
      `mutation Post($input: PostSalesRecordInput!) { postSalesRecord(input: $input) { ...Item } } ${ITEM}`,
      { input: { content: content.value, relatedTo: [view.recordId] } },
    );
    $("feed").prepend(renderItem(postSalesRecord));
    content.value = "";
  } catch (error) {
    $("feed-error").textContent = error.message;
  }
});

// -- one feed item: like, follow, reply ---------------------------------------------------------

function renderItem(item) {
  const card = h("li", { class: "item", "data-id": item.id });
  const draw = (current) => {
    const replies = current.replies.edges.map(({ node }) =>
      h("li", {}, h("strong", {}, node.author.name), ": ", node.content),
    );
    const replyInput = h("input", { name: "reply", placeholder: "Reply", required: true, "aria-label": "Reply" });
    card.replaceChildren(
      h(
        "div",
        { class: "meta" },
        h("strong", {}, current.author.name),
        ` · ${current.type.replace(/_/g, " ").toLowerCase()} · ${when(current.createdAt)}`,
        current.relatedTo.flatMap((record) => [" · ", h("a", { href: `#/record/${record.id}` }, record.name)]),
      ),
      h("p", { class: "content" }, current.content),
      h(
        "div",
        { class: "actions" },
        h(
          "button",
          { class: current.likedByMe ? "like on" : "like", onclick: () => act(current.likedByMe ? "unlike" : "like") },
          current.likedByMe ? "Liked" : "Like",
          ` (${current.likeCount})`,
        ),
        h(
          "button",
          { class: current.followedByMe ? "follow on" : "follow", onclick: () => act(current.followedByMe ? "unfollow" : "follow") },
          current.followedByMe ? "Following" : "Follow",
        ),
        h("span", {}, current.replyCount === 1 ? "1 reply" : `${current.replyCount} replies`),
      ),
      h("ol", { class: "replies" }, replies),
      h(
        "form",
        { class: "reply-form", onsubmit: (event) => reply(event, replyInput) },
        replyInput,
        h("button", { type: "submit" }, "Reply"),
      ),
    );
  };
  const act = async (mutation) => {
    try {
      const data = await gql(
        `mutation Act($itemId: ID!) { ${mutation}(itemId: $itemId) { ...Item } } ${ITEM}`,
        { itemId: item.id },
      );
      draw(data[mutation]);
    } catch (error) {
      $("feed-error").textContent = error.message;
    }
  };
  const reply = async (event, input) => {
    event.preventDefault();
    try {
      await gql("mutation Reply($itemId: ID!, $content: String!) { reply(itemId: $itemId, content: $content) { id } }", {
        itemId: item.id,
        content: input.value,
      });
      const { feedItem } = await gql(`query Item($id: ID!) { feedItem(id: $id) { ...Item } } ${ITEM}`, { id: item.id });
      draw(feedItem);
    } catch (error) {
      $("feed-error").textContent = error.message;
    }
  };
  draw(item);
  return card;
}

// -- live notifications -------------------------------------------------------------------------

let notifications = []; // newest first

function startNotifications() {
  notifications = [];
  renderNotifications();
  live?.stop();
  // From the start of the inbox: the server replays what is stored, then pushes new ones.
  live = followNotifications({
    url: WS_ENDPOINT,
    token: session.token,
    onNotification: (notification) => {
      if (notifications.some((known) => known.id === notification.id)) return;
      notifications.unshift(notification);
      renderNotifications();
    },
    onStatus: (status) => ($("live-status").textContent = status),
    onSignedOut: (reason) => showLogin(reason),
  });
}

function renderNotifications() {
  const unread = notifications.filter((notification) => !notification.read).length;
  $("badge").textContent = String(unread);
  $("badge").hidden = unread === 0;
  $("notification-list").replaceChildren(
    ...notifications.map((notification) =>
      h(
        "li",
        {
          class: notification.read ? "read" : "unread",
          "data-kind": notification.kind,
          onclick: () => notification.record && (location.hash = `#/record/${notification.record.id}`),
        },
        notification.message,
        h("div", { class: "hint" }, when(notification.createdAt)),
      ),
    ),
  );
}

$("bell").addEventListener("click", () => ($("notifications").hidden = !$("notifications").hidden));

$("mark-read").addEventListener("click", async () => {
  const newest = notifications[0];
  if (!newest) return;
  await gql("mutation Read($upTo: String!) { markNotificationsRead(upTo: $upTo) }", { upTo: newest.cursor });
  for (const notification of notifications) notification.read = true;
  renderNotifications();
});

start().catch((error) => showLogin(error.message));
