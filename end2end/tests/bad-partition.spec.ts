import { expect, test } from "@playwright/test";
import { SendPage } from "./fixtures/send-page";

test("a partition the topic lacks shows the server's message next to the field", async ({ page }) => {
  const send = new SendPage(page);
  await send.open();
  await send.expectHydrated();
  await send.send({ partition: "7" });
  await expect(send.fieldError("partition")).toContainText("Partition 7 does not exist");
  await expect(send.partition).toHaveAttribute("aria-invalid", "true");
});

test("a negative partition is refused in the browser with the server's rule", async ({ page }) => {
  const send = new SendPage(page);
  await send.open();
  await send.expectHydrated();
  await send.partition.fill("-1");
  await expect(send.fieldError("partition")).toHaveText("Invalid partition '-1': expected an integer >= 0");
});
