import { expect, test } from "@playwright/test";
import { SendPage } from "./fixtures/send-page";

test("a sync send shows the partition and offset the broker gave", async ({ page }) => {
  const send = new SendPage(page);
  await send.open();
  await send.expectHydrated();
  await send.send({ mode: "plain", sendMode: "sync" });
  await expect(send.result.getByTestId("state")).toHaveText("OK");
  await expect(send.result.getByTestId("offset")).toHaveText(/^\d+$/);
  await expect(send.result.getByTestId("partition")).toHaveText(/^[0-2]$/);
  await expect(send.result).toContainText("round trip");
});
