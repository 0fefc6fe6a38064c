import { expect, test } from "@playwright/test";
import { SendPage } from "./fixtures/send-page";

test("recent sends list sync and async sends, newest first, settling to OK", async ({ page }) => {
  const send = new SendPage(page);
  await send.open();
  await send.expectHydrated();
  const syncId = await send.send({ mode: "plain", sendMode: "sync" });
  await expect(send.result.getByTestId("state")).toHaveText("OK");
  const asyncId = await send.send({ mode: "idempotent", sendMode: "async" });
  await expect(send.recentRow(asyncId).getByTestId("state")).toHaveText("OK");
  await expect(send.recentRow(syncId).getByTestId("state")).toHaveText("OK");
  await expect(send.recentRows.first()).toContainText(asyncId);
  await expect(send.recentRow(syncId)).toContainText("plain · sync");
  await expect(send.recentRow(asyncId)).toContainText("idempotent · async");
});
