import { expect, test } from "@playwright/test";
import { Api, SendPage } from "./fixtures/send-page";

test("a submission the network delivers twice is sent once and answered as replayed", async ({ page, request }) => {
  const send = new SendPage(page);
  await send.open();
  await send.expectHydrated();
  await send.deliverNextSubmissionTwice();
  const eventId = await send.send({ mode: "plain", sendMode: "sync" });
  await expect(send.result.getByTestId("state")).toHaveText("OK");
  await expect(send.result.getByTestId("replayed")).toBeVisible();
  // One send for the event, whatever the network repeated.
  await expect.poll(async () => (await new Api(request).sendsOf(eventId)).length).toBe(1);
});
