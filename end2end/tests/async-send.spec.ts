import { expect, test } from "@playwright/test";
import { Api, SendPage } from "./fixtures/send-page";

test.afterEach(async ({ request }) => {
  await new Api(request).clearFault();
});

test("an async send shows PENDING, then OK with its offset, without a reload", async ({ page, request }) => {
  const send = new SendPage(page);
  const api = new Api(request);
  await send.open();
  await send.expectHydrated();
  // Hold the broker's answer to the next Produce request until the fault is cleared: the send
  // stays PENDING for as long as the test needs, however slow the machine.
  await api.setFault({ kind: "delay-produce-response", delayMs: 60000, produceRequests: 1 });
  let reloaded = false;
  page.on("framenavigated", (frame) => {
    if (frame === page.mainFrame()) reloaded = true;
  });
  await send.send({ mode: "idempotent", sendMode: "async" });
  const live = send.result.getByTestId("live-status");
  await expect(live.getByTestId("state")).toHaveText("PENDING");
  await api.clearFault();
  await expect(live.getByTestId("state")).toHaveText("OK");
  await expect(live.getByTestId("offset")).toHaveText(/^\d+$/);
  expect(reloaded).toBe(false);
});
