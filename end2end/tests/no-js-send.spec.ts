import { expect, test } from "@playwright/test";
import { SendPage } from "./fixtures/send-page";

test("without JavaScript the form still sends and the page shows the result", async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  const send = new SendPage(page);
  await send.open();
  const eventId = `NOJS-${Date.now()}`;
  await send.eventId.fill(eventId);
  await send.sendButton.click();
  await expect(page).toHaveURL(/\?sent=[0-9a-f-]{36}/);
  await expect(send.lookupResult.getByTestId("state")).toHaveText("OK");
  await expect(send.lookupResult.getByTestId("offset")).toHaveText(/^\d+$/);
  await expect(send.recentRow(eventId)).toBeVisible();
  await context.close();
});

test("without JavaScript a bad partition comes back next to the field", async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  const send = new SendPage(page);
  await send.open();
  await send.partition.fill("9");
  await send.sendButton.click();
  await expect(send.fieldError("partition")).toContainText("Partition 9 does not exist");
  await context.close();
});
