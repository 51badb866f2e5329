"""ConnectDialog: a Diffusion Desk server's address, its token file and (for a self-signed certificate) a CA file."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from widgets.panels.modal import open_file_name

DEFAULT_URL = "http://127.0.0.1:8765"
HINT = ("Start the server where the GPU is with <code>python main.py serve</code>; it prints the path of its token "
        "file. From a laptop, reach it through an SSH tunnel: <code>ssh -L 8765:127.0.0.1:8765 gpu-host</code>, then "
        "connect to http://127.0.0.1:8765 with a copy of the token file.")


class ConnectDialog(QDialog):
    def __init__(self, recent: list[tuple[str, str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Connect to a server")
        self.recent = recent
        self.url = QComboBox()
        self.url.setEditable(True)
        self.url.addItems([url for url, _, _ in recent] or [DEFAULT_URL])
        self.token_file = QLineEdit(recent[0][1] if recent else "")
        self.token_file.setPlaceholderText("the file the server printed when it started")
        self.ca_file = QLineEdit(recent[0][2] if recent else "")
        self.ca_file.setPlaceholderText("optional: for https with a self-signed certificate")
        form = QFormLayout()
        form.addRow("Server", self.url)
        form.addRow("Token file", self._with_browse(self.token_file, "The server's token file"))
        form.addRow("CA file", self._with_browse(self.ca_file, "The certificate to trust"))
        hint = QLabel(HINT)
        hint.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.connect_button = self.buttons.addButton("Connect", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        self.error = QLabel()
        self.error.setStyleSheet("color: #d32f2f;")
        self.error.hide()
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(hint)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.url.currentIndexChanged.connect(self._recall)
        self.setMinimumWidth(560)
        self.adjustSize()  # the wrapped hint's height for that width (a fixed height cut its last line off)

    def _with_browse(self, field: QLineEdit, title: str) -> QWidget:
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(field, 1)
        button = QPushButton("Browse…")
        button.clicked.connect(lambda: self._browse(field, title))
        layout.addWidget(button)
        return row

    def _browse(self, field: QLineEdit, title: str) -> None:
        start = str(Path(field.text()).parent) if field.text() else str(Path.home())
        path = open_file_name(self, title, start, "")
        if path:
            field.setText(path)

    def _recall(self, index: int) -> None:
        """A recent server brings its token and CA files back."""
        if 0 <= index < len(self.recent):
            _, token, ca = self.recent[index]
            self.token_file.setText(token)
            self.ca_file.setText(ca)

    def _accept(self) -> None:
        if not self.url.currentText().strip() or not self.token_file.text().strip():
            self.error.setText("Give the server's address and its token file.")
            self.error.show()
            return
        self.accept()

    def values(self) -> tuple[str, str, str]:
        return self.url.currentText().strip(), self.token_file.text().strip(), self.ca_file.text().strip()
