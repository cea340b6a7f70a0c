from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello_world():
    return "Hello World"


@app.route("/contact")
def contact():
    return "This might be a contact page in the future."


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=5000)
