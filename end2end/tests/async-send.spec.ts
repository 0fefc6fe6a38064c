import { expect, test } from "@playwright/test";
import { Api, SendPage } from "./fixtures/send-page";

test.afterEach(async ({ request }) => {
  await new Api(request).clearFault();
});

test("an async send shows PENDING, then OK with its offset, without a reload", async ({ page, request }) => {
  const send = new SendPage(page);
  await send.open();
  await send.expectHydrated();
  // Hold the broker's answer to the next Produce request for 2 s, so PENDING can be seen.
  await new Api(request).setFault({ kind: "delay-produce-response", delayMs: 2000, produceRequests: 1 });
  let reloaded = false;
  page.on("framenavigated", (frame) => {
    if (frame === page.mainFrame()) reloaded = true;
  });
  await send.send({ mode: "idempotent", sendMode: "async" });
  const live = send.result.getByTestId("live-status");
  await expect(live.getByTestId("state")).toHaveText("PENDING");
  await expect(live.getByTestId("state")).toHaveText("OK");
  await expect(live.getByTestId("offset")).toHaveText(/^\d+$/);
  expect(reloaded).toBe(false);
});
