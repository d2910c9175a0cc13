// A small client of the graphql-transport-ws protocol (the one the `graphql-ws` library speaks),
// written out to show how little it takes:
//
//   client → server  {"type": "connection_init", "payload": {"Authorization": "Bearer <token>"}}
//   server → client  {"type": "connection_ack"}            (or a close: 4401 no token, 4403 refused)
//   client → server  {"id": "1", "type": "subscribe", "payload": {"query": "...", "variables": {...}}}
//   server → client  {"id": "1", "type": "next", "payload": {"data": {...}}}   (once per event)
//   server → client  {"id": "1", "type": "error", "payload": [{"message": "..."}]}  or "complete"
//   either side      {"type": "ping"} answered by {"type": "pong"}
//   client → server  {"id": "1", "type": "complete"} to stop
//
// One socket carries one subscription here; `followNotifications` reconnects after a drop and
// resumes from the last cursor it saw, so nothing is missed and nothing comes twice.

export const PROTOCOL = "graphql-transport-ws";

/**
 * Open a socket, sign in with `token`, run one subscription. Calls `onAck()` once signed in,
 * `onNext(data)` per result,
 * `onError(errors)` if the operation fails, `onClose(code, reason)` when the socket ends.
 * Returns `{ close() }`.
 */
export function subscribe({ url, token, query, variables, onAck, onNext, onError, onClose }) {
  const socket = new WebSocket(url, PROTOCOL);
  const send = (message) => socket.send(JSON.stringify(message));
  let closing = false;
  socket.addEventListener("open", () => {
    send({ type: "connection_init", payload: { Authorization: `Bearer ${token}` } });
  });
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    switch (message.type) {
      case "connection_ack":
        onAck?.();
        send({ id: "1", type: "subscribe", payload: { query, variables } });
        break;
      case "ping":
        send({ type: "pong" });
        break;
      case "next":
        if (message.payload.errors) onError?.(message.payload.errors);
        if (message.payload.data) onNext(message.payload.data);
        break;
      case "error":
        onError?.(message.payload);
        break;
      case "complete":
        closing = true;
        socket.close(1000, "complete");
        break;
    }
  });
  socket.addEventListener("close", (event) => onClose?.(event.code, event.reason, closing));
  return {
    close() {
      closing = true;
      if (socket.readyState === WebSocket.OPEN) send({ id: "1", type: "complete" });
      socket.close(1000, "bye");
    },
  };
}

const NOTIFICATIONS = `
  subscription Notifications($after: String) {
    notifications(after: $after) {
      id cursor kind message read createdAt
      actor { name }
      record { id name }
      feedItem { id content }
    }
  }`;

/**
 * Every notification after `after` (null: all stored), then new ones, across reconnects:
 * after a drop it waits (1 s, doubling up to 30 s) and subscribes again from the last cursor.
 * A refused token (4401, 4403) stops it and calls `onSignedOut`. Returns `{ stop() }`.
 */
export function followNotifications({ url, token, after = null, onNotification, onStatus, onSignedOut }) {
  let cursor = after;
  let current = null;
  let stopped = false;
  let delay = 1000;
  const connect = () => {
    onStatus?.("connecting");
    current = subscribe({
      url,
      token,
      query: NOTIFICATIONS,
      variables: { after: cursor },
      onAck: () => {
        delay = 1000;
        onStatus?.("live");
      },
      onNext: ({ notifications }) => {
        cursor = notifications.cursor;
        onNotification(notifications);
      },
      onError: (errors) => console.warn("notifications:", errors),
      onClose: (code, reason, byUs) => {
        if (stopped || byUs) return;
        if (code === 4401 || code === 4403) {
          onStatus?.("signed out");
          onSignedOut?.(reason);
          return;
        }
        onStatus?.("reconnecting");
        setTimeout(connect, delay);
        delay = Math.min(delay * 2, 30_000);
      },
    });
  };
  connect();
  return {
    stop() {
      stopped = true;
      current?.close();
    },
  };
}
