from fastapi import FastAPI


def install_console(app: FastAPI) -> None:
    return None
