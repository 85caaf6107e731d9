/** Asking for the instruction: a quick pick of recent instructions that takes free text. */

import * as vscode from "vscode";
import { acceptedInstruction, type InstructionHistory, type PickItem, pickItems } from "./history";

interface Item extends vscode.QuickPickItem {
  pick: PickItem;
}

const REMOVE: vscode.QuickInputButton = { iconPath: new vscode.ThemeIcon("close"), tooltip: "Remove from history" };

export function askInstruction(history: InstructionHistory, title: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const quickPick = vscode.window.createQuickPick<Item>();
    quickPick.title = title;
    quickPick.placeholder = "What should the model do with the code? (type an instruction, or pick a recent one)";
    quickPick.ignoreFocusOut = true;
    quickPick.matchOnDescription = false;
    const update = (): void => {
      quickPick.items = pickItems(quickPick.value, history.items()).map((pick) => ({
        label: pick.label,
        description: pick.description,
        alwaysShow: pick.typed,
        buttons: pick.typed ? [] : [REMOVE],
        pick,
      }));
    };
    update();
    let done = false;
    const finish = (instruction: string | undefined): void => {
      if (done) {
        return;
      }
      done = true;
      resolve(instruction);
      quickPick.dispose();
    };
    quickPick.onDidChangeValue(update);
    quickPick.onDidTriggerItemButton(async (event) => {
      await history.remove(event.item.label);
      update();
    });
    quickPick.onDidAccept(() => {
      const instruction = acceptedInstruction(quickPick.value, quickPick.activeItems[0]?.pick);
      if (instruction !== undefined) {
        void history.add(instruction);
        finish(instruction);
      }
    });
    quickPick.onDidHide(() => finish(undefined));
    quickPick.show();
  });
}
