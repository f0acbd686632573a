// The nasl extension's client: starts `nasl lsp` (the setting `nasl.server.path`, default `nasl` on
// PATH) for `.nas` files and passes the include policy as an initialization option.
'use strict';

const vscode = require('vscode');
const { LanguageClient } = require('vscode-languageclient/node');

let client;

function start() {
  const config = vscode.workspace.getConfiguration('nasl');
  const command = config.get('server.path') || 'nasl';
  const server = { command, args: ['lsp'] };
  client = new LanguageClient(
    'nasl',
    'nasl language server',
    { run: server, debug: server },
    {
      documentSelector: [{ language: 'nasl' }],
      initializationOptions: {
        allowIncludeOutside: config.get('server.allowIncludeOutside') === true,
      },
    },
  );
  return client.start();
}

async function activate(context) {
  context.subscriptions.push(
    vscode.commands.registerCommand('nasl.restartServer', async () => {
      if (client) {
        await client.stop();
      }
      await start();
    }),
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (e.affectsConfiguration('nasl.server')) {
        await vscode.commands.executeCommand('nasl.restartServer');
      }
    }),
  );
  await start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
